package mnist.mms;

import com.amazonaws.ml.mms.util.codec.ModelResponseDecoder;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import java.util.List;
import java.util.Map;

/**
 * MMS's decoder of its Python backends' answers, handed only whole answers.
 *
 * ModelResponseDecoder reads an answer as it arrives on the worker's socket and waits for more
 * bytes at most places, but not inside a prediction's response headers (every prediction carries
 * its Content-Type there): when a read ends in them, it takes the rest for a corrupt frame
 * ("Message size exceed limit: 12"), and MMS kills the backend and fails every request in flight.
 * Answers to one request are small and arrive in one read; an answer to a batch of several
 * requests is larger, is often split, and was cut there within seconds of load. This decoder
 * checks, by the lengths the answer declares, that the whole answer is in before MMS's decoder
 * reads it; MMS's own decoder still does all the reading.
 *
 * The answer, as mms/protocol/otf_message_handler.py writes it (ints are 4 bytes, big-endian; a
 * string is its length, then its bytes): code, message, then per prediction request id, content
 * type, status, reason phrase, a header count and that many name/value strings, body; the list
 * ends with a length of -1.
 */
public class WholeFrameDecoder extends ModelResponseDecoder {
    static final String WORKER_CHANNEL = "com/amazonaws/ml/mms/wlm/WorkerThread$1";
    static final String FEATURE = "mnist whole frames";
    static final Map<String, String> RENAMES = Map.of(
            "com/amazonaws/ml/mms/util/codec/ModelResponseDecoder", "mnist/mms/WholeFrameDecoder");

    public WholeFrameDecoder(int maxBufferSize) {
        super(maxBufferSize);
    }

    static ClassRenames transformer() {
        return new ClassRenames(WORKER_CHANNEL, RENAMES, FEATURE,
                "the backends' answers are decoded once whole");
    }

    @Override
    protected void decode(ChannelHandlerContext context, ByteBuf in, List<Object> out) {
        if (complete(in)) {
            super.decode(context, in, out);
        }
    }

    /** Whether `in` holds a whole answer; true also for one malformed beyond doubt (MMS reports it). */
    public static boolean complete(ByteBuf in) {
        long end = in.writerIndex();
        long at = in.readerIndex() + 4L; // code
        at = skipString(in, at, end); // message
        while (at >= 0) {
            if (at + 4 > end) {
                return false;
            }
            if (in.getInt((int) at) < 0) { // -1 ends the list; any other negative length is MMS's to report
                return true;
            }
            at = skipString(in, at, end); // request id
            at = skipString(in, at, end); // content type
            at = at < 0 ? at : at + 4; // status
            at = skipString(in, at, end); // reason phrase
            if (at < 0 || at + 4 > end) {
                return false;
            }
            int headers = in.getInt((int) at);
            if (headers < 0) {
                return true;
            }
            at += 4;
            for (int header = 0; header < 2 * headers && at >= 0; header++) {
                at = skipString(in, at, end);
            }
            at = skipString(in, at, end); // body
        }
        return at == MALFORMED;
    }

    private static final long MISSING = -1;
    private static final long MALFORMED = -2;

    /** The index after the string at `at`, MISSING if it is not all in, MALFORMED if its length is negative. */
    private static long skipString(ByteBuf in, long at, long end) {
        if (at < 0) {
            return at;
        }
        if (at + 4 > end) {
            return MISSING;
        }
        int length = in.getInt((int) at);
        if (length < 0) {
            return MALFORMED;
        }
        long next = at + 4 + length;
        return next > end ? MISSING : next;
    }
}

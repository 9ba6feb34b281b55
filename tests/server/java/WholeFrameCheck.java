import com.amazonaws.ml.mms.util.codec.ModelResponseDecoder;
import com.amazonaws.ml.mms.util.messages.ModelWorkerResponse;
import com.amazonaws.ml.mms.util.messages.Predictions;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import mnist.mms.WholeFrameDecoder;

/**
 * Feeds an answer that MMS's Python backend wrote (the file args[0]) to MMS's decoder and to
 * WholeFrameDecoder, whole and split at every byte, as a worker's socket may deliver it; prints
 * one JSON object (tests/server/test_worker_affinity.py reads it).
 */
public final class WholeFrameCheck {
    public static void main(String[] args) throws Exception {
        byte[] answer = Files.readAllBytes(Paths.get(args[0]));
        int incompleteClaimedWhole = 0;
        for (int cut = 0; cut < answer.length; cut++) {
            if (WholeFrameDecoder.complete(Unpooled.wrappedBuffer(answer, 0, cut))) {
                incompleteClaimedWhole++;
            }
        }
        boolean wholeIsWhole = WholeFrameDecoder.complete(Unpooled.wrappedBuffer(answer));
        int stockFailures = 0;
        int oursWrong = 0;
        String decoded = null;
        for (int cut = 1; cut < answer.length; cut++) {
            if (!split(new ModelResponseDecoder(1 << 20), answer, cut).equals(describe(whole(answer)))) {
                stockFailures++;
            }
            String ours = split(new WholeFrameDecoder(1 << 20), answer, cut);
            if (!ours.equals(describe(whole(answer)))) {
                oursWrong++;
            }
            decoded = ours;
        }
        System.out.println("{\"cuts\": " + (answer.length - 1) + ", \"incomplete_claimed_whole\": " + incompleteClaimedWhole
                + ", \"whole_is_whole\": " + wholeIsWhole + ", \"stock_failures\": " + stockFailures
                + ", \"ours_wrong\": " + oursWrong + ", \"decoded\": " + decoded + "}");
    }

    static ModelWorkerResponse whole(byte[] answer) {
        EmbeddedChannel channel = new EmbeddedChannel(new ModelResponseDecoder(1 << 20));
        channel.writeInbound(Unpooled.wrappedBuffer(answer));
        return channel.readInbound();
    }

    /** The answer delivered in two reads, cut at `cut`, as the decoder decodes it (or its error). */
    static String split(ModelResponseDecoder decoder, byte[] answer, int cut) {
        EmbeddedChannel channel = new EmbeddedChannel(decoder);
        try {
            channel.writeInbound(Unpooled.wrappedBuffer(answer, 0, cut));
            channel.writeInbound(Unpooled.wrappedBuffer(answer, cut, answer.length - cut));
            return describe(channel.readInbound());
        } catch (RuntimeException e) {
            return "\"" + e.getClass().getSimpleName() + "\"";
        }
    }

    static String describe(ModelWorkerResponse response) {
        if (response == null) {
            return "null";
        }
        List<String> predictions = new ArrayList<>();
        for (Predictions p : response.getPredictions()) {
            predictions.add("{\"id\": \"" + p.getRequestId() + "\", \"content_type\": \"" + p.getContentType()
                    + "\", \"status\": " + p.getStatusCode() + ", \"body\": \""
                    + new String(p.getResp(), StandardCharsets.UTF_8).replace("\"", "\\\"").replace("\n", "\\n") + "\"}");
        }
        return "{\"code\": " + response.getCode() + ", \"predictions\": [" + String.join(", ", predictions) + "]}";
    }
}

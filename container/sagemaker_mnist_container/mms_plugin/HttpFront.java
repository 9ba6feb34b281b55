package mnist.mms;

import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.FullHttpMessage;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import java.util.Map;

/**
 * MMS's HTTP aggregator, in the one place MMS builds its HTTP pipeline
 * (com.amazonaws.ml.mms.ServerInitializer, which has no setting or plugin for it): the agent
 * renames Netty's HttpObjectAggregator there to this subclass. It aggregates exactly as Netty's
 * does, and changes two things:
 *   - a body over MMS's request size limit (twice SAGEMAKER_MAX_PAYLOAD_IN_MB: settings.py) gets
 *     a 413 with a JSON message naming the limit, where Netty's answers 413 with an empty body;
 *   - it puts FrontDoor right after itself, so that every whole request passes the container's
 *     route table (wrong method 405 with Allow, unknown path 404, HEAD /ping, malformed
 *     POST /models 400) and a failed model load answers with its reason.
 */
public class HttpFront extends HttpObjectAggregator {
    static final String SERVER_INITIALIZER = "com/amazonaws/ml/mms/ServerInitializer";
    static final String FEATURE = "mnist http front";
    static final Map<String, String> RENAMES = Map.of(
            "io/netty/handler/codec/http/HttpObjectAggregator", "mnist/mms/HttpFront");

    private final int maxContentLength;

    public HttpFront(int maxContentLength) {
        super(maxContentLength);
        this.maxContentLength = maxContentLength;
    }

    static ClassRenames transformer() {
        return new ClassRenames(SERVER_INITIALIZER, RENAMES, FEATURE,
                "JSON 413s past the request limit, 405 with Allow, 404, HEAD /ping, load failures with their reason");
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) throws Exception {
        super.handlerAdded(ctx);
        ctx.pipeline().addAfter(ctx.name(), FrontDoor.NAME, new FrontDoor());
    }

    @Override
    protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) throws Exception {
        if (!(oversized instanceof HttpRequest)) {
            super.handleOversizedMessage(ctx, oversized);
            return;
        }
        int payloadMb = Integer.getInteger(ExecutionParameters.MAX_PAYLOAD_IN_MB, 6);
        long length = HttpUtil.getContentLength(oversized, -1L);
        String message = String.format(
                "the request body%s is far over this endpoint's limit of %d MB (SAGEMAKER_MAX_PAYLOAD_IN_MB);"
                        + " the server stopped reading it at %.1f MB",
                length < 0 ? "" : String.format(" (%.1f MB)", length / 1048576.0),
                payloadMb, maxContentLength / 1048576.0);
        // As Netty decides: a request whose body the client is already sending on a connection it
        // keeps is answered and the rest of its body skipped; any other connection is closed.
        boolean keepAlive = !(oversized instanceof FullHttpMessage)
                && (HttpUtil.is100ContinueExpected(oversized) || HttpUtil.isKeepAlive(oversized));
        Answers.send(ctx, Answers.error(HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE, message,
                Answers.object("max_payload_mb", payloadMb)), keepAlive);
    }
}

package mnist.mms;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.List;

/**
 * Between MMS's aggregator and its request handler (HttpFront puts it there), on each connection:
 *   - a path the container does not have is a 404, a method its path does not take a 405 with an
 *     Allow header (Routes), before MMS sees the request;
 *   - HEAD /ping reaches MMS as GET, and its answer leaves without the body;
 *   - POST /models with a JSON body that is not a JSON object is a 400 (MMS answers 500 with
 *     Gson's JsonSyntaxException);
 *   - the answer to a model load that failed carries the worker's reason (LoadFailures) and the
 *     status it asked for, in place of MMS's 500 "Failed to start workers".
 * MMS answers each connection's requests in order, so the answers to the requests passed on are
 * matched with them through a queue; every call here runs on the connection's event loop.
 */
final class FrontDoor extends ChannelDuplexHandler {
    static final String NAME = "mnist-front-door";

    /** The queue's entry for a request whose answer leaves as MMS wrote it. */
    private static final Object AS_IS = new Object();
    private static final Object HEAD = new Object();

    private final ArrayDeque<Object> passedOn = new ArrayDeque<>();

    /** A model load passed on: whose, and when it arrived (reports older than that are not its). */
    private static final class Load {
        final String model;
        final long since = System.currentTimeMillis();

        Load(String model) {
            this.model = model;
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
        if (!(msg instanceof FullHttpRequest)) {
            ctx.fireChannelRead(msg);
            return;
        }
        FullHttpRequest request = (FullHttpRequest) msg;
        HttpMethod method = request.method();
        String uri = request.uri();
        // The request SageMaker sends most, with the fewest checks.
        if (HttpMethod.POST.equals(method) && (uri.equals("/invocations") || uri.startsWith("/invocations?"))) {
            pass(ctx, request, AS_IS);
            return;
        }
        if (!request.decoderResult().isSuccess()) {
            pass(ctx, request, AS_IS); // MMS answers 400 "Invalid HTTP message"
            return;
        }
        QueryStringDecoder decoder = new QueryStringDecoder(uri);
        String path = decoder.path();
        List<HttpMethod> methods = Routes.methods(path);
        if (methods == null) {
            refuse(ctx, request, Answers.error(HttpResponseStatus.NOT_FOUND,
                    "this endpoint has no path " + path, Answers.object("paths", Routes.KNOWN)));
        } else if (!methods.contains(method)) {
            String allow = Routes.allow(methods);
            FullHttpResponse answer = Answers.error(HttpResponseStatus.METHOD_NOT_ALLOWED,
                    path + " does not take " + method.name(), Answers.object("methods", allow));
            answer.headers().set(HttpHeaderNames.ALLOW, allow);
            refuse(ctx, request, answer);
        } else if (HttpMethod.HEAD.equals(method)) {
            request.setMethod(HttpMethod.GET);
            pass(ctx, request, HEAD);
        } else if (HttpMethod.POST.equals(method) && Routes.MODELS == methods) {
            load(ctx, request, decoder);
        } else {
            pass(ctx, request, AS_IS);
        }
    }

    private void load(ChannelHandlerContext ctx, FullHttpRequest request, QueryStringDecoder decoder) {
        String model = null;
        List<String> named = decoder.parameters().get("model_name");
        if (named != null && !named.isEmpty()) {
            model = named.get(0);
        }
        CharSequence type = HttpUtil.getMimeType(request);
        if (type != null && HttpHeaderValues.APPLICATION_JSON.contentEqualsIgnoreCase(type)) {
            String problem;
            try {
                JsonElement body = JsonParser.parseString(request.content().toString(StandardCharsets.UTF_8));
                if (body.isJsonObject()) {
                    JsonObject fields = body.getAsJsonObject();
                    JsonElement name = fields.get("model_name");
                    if (name != null && name.isJsonPrimitive()) {
                        model = name.getAsString();
                    }
                    problem = null;
                } else {
                    problem = "the body is JSON but not an object: " + (body.isJsonNull() ? "empty" : body.toString());
                }
            } catch (JsonParseException e) {
                problem = "the body is not valid JSON (" + e.getMessage() + ")";
            }
            if (problem != null) {
                refuse(ctx, request, Answers.error(HttpResponseStatus.BAD_REQUEST, "POST /models: " + problem,
                        Answers.object("body", "{\"model_name\": \"digits\", \"url\": \"/opt/ml/models/digits/model\"}")));
                return;
            }
        }
        pass(ctx, request, new Load(model));
    }

    private void pass(ChannelHandlerContext ctx, FullHttpRequest request, Object answer) {
        passedOn.add(answer);
        ctx.fireChannelRead(request);
    }

    /**
     * Answers `request` here. A client that sends its next request before reading this answer
     * (pipelining, which SageMaker does not do) could get this one before the answer to an
     * earlier request still with MMS.
     */
    private static void refuse(ChannelHandlerContext ctx, FullHttpRequest request, FullHttpResponse answer) {
        boolean keepAlive = HttpUtil.isKeepAlive(request);
        ReferenceCountUtil.release(request);
        Answers.send(ctx, answer, keepAlive);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) throws Exception {
        if (msg instanceof FullHttpResponse) {
            Object answer = passedOn.poll();
            if (answer == HEAD) {
                msg = withoutBody((FullHttpResponse) msg);
            } else if (answer instanceof Load) {
                msg = withReason((FullHttpResponse) msg, (Load) answer);
            }
        }
        ctx.write(msg, promise);
    }

    /** GET's answer as HEAD's: same status and headers (Content-Length included), no body. */
    private static FullHttpResponse withoutBody(FullHttpResponse response) {
        FullHttpResponse head = response.replace(Unpooled.EMPTY_BUFFER);
        response.release();
        return head;
    }

    private static FullHttpResponse withReason(FullHttpResponse response, Load load) {
        int status = response.status().code();
        if (status < 400 || status == HttpResponseStatus.CONFLICT.code()) {
            return response;
        }
        LoadFailures.Report report = LoadFailures.take(load.model, load.since);
        String message;
        if (report != null) {
            status = report.status;
            message = "model " + load.model + " failed to load: " + report.reason;
        } else if (status == HttpResponseStatus.INSUFFICIENT_STORAGE.code()) {
            // MMS answers 507 when the worker was killed (status 137), as the kernel's OOM killer does.
            message = "model " + load.model + " failed to load: its worker was killed while loading it"
                    + " (out of memory); the models already loaded are still served";
        } else {
            return response;
        }
        FullHttpResponse answer = Answers.error(HttpResponseStatus.valueOf(status), message, null);
        HttpUtil.setKeepAlive(answer, HttpUtil.isKeepAlive(response));
        response.release();
        return answer;
    }
}

package mnist.mms;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;

/**
 * The plugin's error answers, in the shape the handler service gives its own (mms_requests):
 * {"error": reason phrase, "message": what was wrong, "accepted": what the endpoint takes}.
 */
final class Answers {
    private Answers() {}

    static FullHttpResponse error(HttpResponseStatus status, String message, JsonElement accepted) {
        JsonObject body = new JsonObject();
        body.addProperty("error", status.reasonPhrase());
        body.addProperty("message", message);
        if (accepted != null) {
            body.add("accepted", accepted);
        }
        byte[] bytes = (body + "\n").getBytes(StandardCharsets.UTF_8);
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                Unpooled.wrappedBuffer(bytes));
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON);
        HttpUtil.setContentLength(response, bytes.length);
        return response;
    }

    /** Writes `response`, keeping the connection open only if `keepAlive`. */
    static void send(ChannelHandlerContext ctx, FullHttpResponse response, boolean keepAlive) {
        HttpUtil.setKeepAlive(response, keepAlive);
        if (keepAlive) {
            ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE_ON_FAILURE);
        } else {
            ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
        }
    }

    static JsonObject object(String name, Object value) {
        JsonObject object = new JsonObject();
        if (value instanceof Number) {
            object.addProperty(name, (Number) value);
        } else {
            object.addProperty(name, String.valueOf(value));
        }
        return object;
    }
}

package mnist.mms;

import io.netty.handler.codec.http.HttpMethod;
import java.util.List;

/**
 * The paths the container answers on its one port (SageMaker's inference contract, the
 * multi-model contract and this plugin's endpoints) and the methods each takes. MMS itself
 * answers a wrong method on most of them with 500 "No implementation found" (a plugin endpoint)
 * or with whatever its handler makes of the request (GET /invocations reached the model), and
 * has no HEAD; FrontDoor answers those from this table before MMS sees them.
 */
final class Routes {
    private Routes() {}

    static final List<HttpMethod> PING = List.of(HttpMethod.GET, HttpMethod.HEAD);
    static final List<HttpMethod> POST = List.of(HttpMethod.POST);
    static final List<HttpMethod> GET = List.of(HttpMethod.GET);
    static final List<HttpMethod> PUT = List.of(HttpMethod.PUT);
    static final List<HttpMethod> MODELS = List.of(HttpMethod.GET, HttpMethod.POST);
    static final List<HttpMethod> MODEL = List.of(HttpMethod.GET, HttpMethod.PUT, HttpMethod.DELETE);
    static final List<HttpMethod> DESCRIPTION = List.of(HttpMethod.OPTIONS);

    /** What the 404 answer lists. */
    static final String KNOWN = "GET|HEAD /ping, POST /invocations, GET /execution-parameters, PUT /batching,"
            + " GET|POST /models, GET|PUT|DELETE /models/{name}, POST /models/{name}/invoke,"
            + " POST /predictions/{name}, GET /api-description, OPTIONS /";

    /** The methods `path` (without its query) takes, or null for a path the container does not have. */
    static List<HttpMethod> methods(String path) {
        // As MMS splits it (HttpRequestHandler): a trailing slash and repeated ones at the end drop.
        String[] segments = path.split("/");
        if (segments.length == 0) {
            return "/".equals(path) ? DESCRIPTION : null;
        }
        if (segments.length < 2 || !segments[0].isEmpty()) {
            return null;
        }
        String first = segments[1];
        switch (segments.length) {
            case 2:
                switch (first) {
                    case "ping": return PING;
                    case "invocations": return POST;
                    case "execution-parameters": return GET;
                    case "batching": return PUT;
                    case "models": return MODELS;
                    case "api-description": return GET;
                    default: return null;
                }
            case 3:
                switch (first) {
                    case "models": return MODEL;
                    case "predictions": return POST;
                    default: return null;
                }
            case 4:
                return "models".equals(first) && "invoke".equals(segments[3]) ? POST : null;
            default:
                return null;
        }
    }

    /** The Allow header's value for `methods`. */
    static String allow(List<HttpMethod> methods) {
        StringBuilder value = new StringBuilder();
        for (HttpMethod method : methods) {
            if (value.length() > 0) {
                value.append(", ");
            }
            value.append(method.name());
        }
        return value.toString();
    }
}

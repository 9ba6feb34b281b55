package mnist.mms;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import software.amazon.ai.mms.servingsdk.Context;
import software.amazon.ai.mms.servingsdk.ModelServerEndpoint;
import software.amazon.ai.mms.servingsdk.annotations.Endpoint;
import software.amazon.ai.mms.servingsdk.annotations.helpers.EndpointTypes;
import software.amazon.ai.mms.servingsdk.http.Request;
import software.amazon.ai.mms.servingsdk.http.Response;

/**
 * Batch transform asks GET /execution-parameters before sending data, for the defaults of a job
 * that leaves them unset. The values come from the serving settings (sagemaker_mnist_container.settings),
 * handed to the JVM as system properties by `serve`.
 */
@Endpoint(
        urlPattern = "execution-parameters",
        endpointType = EndpointTypes.INFERENCE,
        description = "batch transform defaults: MaxConcurrentTransforms, BatchStrategy, MaxPayloadInMB")
public class ExecutionParameters extends ModelServerEndpoint {

    static final String MAX_CONCURRENT_TRANSFORMS = "mnist.max_concurrent_transforms";
    static final String BATCH_STRATEGY = "mnist.batch_strategy";
    static final String MAX_PAYLOAD_IN_MB = "mnist.max_payload_in_mb";

    @Override
    public void doGet(Request request, Response response, Context context) throws IOException {
        String body = String.format(
                "{\"MaxConcurrentTransforms\": %d, \"BatchStrategy\": \"%s\", \"MaxPayloadInMB\": %d}%n",
                Integer.getInteger(MAX_CONCURRENT_TRANSFORMS, 1),
                System.getProperty(BATCH_STRATEGY, "MULTI_RECORD"),
                Integer.getInteger(MAX_PAYLOAD_IN_MB, 6));
        response.setStatus(200);
        response.setContentType("application/json");
        response.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
    }
}

package mnist.mms;

import com.amazonaws.ml.mms.wlm.Model;
import com.amazonaws.ml.mms.wlm.ModelManager;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import software.amazon.ai.mms.servingsdk.Context;
import software.amazon.ai.mms.servingsdk.ModelServerEndpoint;
import software.amazon.ai.mms.servingsdk.annotations.Endpoint;
import software.amazon.ai.mms.servingsdk.annotations.helpers.EndpointTypes;
import software.amazon.ai.mms.servingsdk.http.Request;
import software.amazon.ai.mms.servingsdk.http.Response;

/**
 * PUT /batching?model_name=M&batch_size=N&max_batch_delay=MS: the batch settings of a model MMS
 * loaded at start-up, which `serve` calls once MMS listens (sagemaker_mnist_container.endpoint_setup).
 *
 * MMS 1.1.11 registers the models it loads at start-up with a batch size of 1 and a 100 ms delay,
 * fixed (ModelServer.initModelStore); only its management API's registration (POST /models) takes
 * batch_size and max_batch_delay. An endpoint's model cannot be registered that way: /invocations
 * finds its model only among the start-up models (InferenceRequestHandler.handleInvocations) and
 * answers 400 "Parameter model_name is required" for any other. So the start-up model stays, and
 * this endpoint, MMS's plugin interface, sets the same two values through Model's own setters.
 * MMS's describe API (GET /models/M) then reports them, which is how `serve` checks they applied.
 *
 * A delay of 0 means: a batch is the requests already waiting, never a wait for more, so a lone
 * request is not held back. With worker affinity the job queue does that (WorkerAffinityQueue's
 * fillWithoutWaiting); MMS's own loop, with a delay of 0, takes at most one request more.
 */
@Endpoint(
        urlPattern = "batching",
        endpointType = EndpointTypes.MANAGEMENT,
        description = "Sets batch_size and max_batch_delay of a model loaded at start-up")
public class Batching extends ModelServerEndpoint {

    @Override
    public void doPut(Request request, Response response, Context context) throws IOException {
        String name = first(request, "model_name");
        Integer batchSize = whole(first(request, "batch_size"));
        Integer maxBatchDelay = whole(first(request, "max_batch_delay"));
        if (name == null || batchSize == null || batchSize < 1 || maxBatchDelay == null || maxBatchDelay < 0) {
            answer(response, 400, "{\"error\": \"model_name, batch_size (a whole number >= 1) and "
                    + "max_batch_delay (ms, a whole number >= 0) are required\"}");
            return;
        }
        Model model = ModelManager.getInstance().getModels().get(name);
        if (model == null) {
            answer(response, 404, "{\"error\": \"no model " + Ping.quoted(name) + " is registered\"}");
            return;
        }
        String waiting = apply(model, batchSize, maxBatchDelay);
        Console.line("INFO", "mnist batching: model " + name + " takes up to " + batchSize
                + " requests at a time, " + waiting);
        answer(response, 200, "{\"model_name\": " + Ping.quoted(name) + ", \"batch_size\": " + batchSize
                + ", \"max_batch_delay\": " + maxBatchDelay + ", \"waiting\": " + Ping.quoted(waiting) + "}");
    }

    /** Sets the model's batch size and delay; returns how a batch fills, in words. */
    public static String apply(Model model, int batchSize, int maxBatchDelay) {
        model.setBatchSize(batchSize);
        if (maxBatchDelay == 0 && WorkerAffinityQueue.inUse) {
            // MMS's delay stays as its loop's budget; the queue never waits within it.
            WorkerAffinityQueue.fillWithoutWaiting = true;
            return "only those already waiting";
        }
        model.setMaxBatchDelay(maxBatchDelay);
        return maxBatchDelay == 0 ? "at most one more than the first, only if already waiting"
                : "waiting up to " + maxBatchDelay + " ms for more";
    }

    private static String first(Request request, String parameter) {
        List<String> values = request.getParameter(parameter);
        return values == null || values.isEmpty() ? null : values.get(0);
    }

    private static Integer whole(String text) {
        try {
            return text == null ? null : Integer.valueOf(text.trim());
        } catch (NumberFormatException e) {
            return null;
        }
    }

    private static void answer(Response response, int status, String body) throws IOException {
        response.setStatus(status);
        response.setContentType("application/json");
        response.getOutputStream().write((body + "\n").getBytes(StandardCharsets.UTF_8));
    }
}

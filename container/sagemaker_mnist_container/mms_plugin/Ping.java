package mnist.mms;

import com.amazonaws.ml.mms.wlm.ModelManager;
import com.amazonaws.ml.mms.wlm.WorkerState;
import com.amazonaws.ml.mms.wlm.WorkerThread;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import software.amazon.ai.mms.servingsdk.Context;
import software.amazon.ai.mms.servingsdk.ModelServerEndpoint;
import software.amazon.ai.mms.servingsdk.annotations.Endpoint;
import software.amazon.ai.mms.servingsdk.annotations.helpers.EndpointTypes;
import software.amazon.ai.mms.servingsdk.http.Request;
import software.amazon.ai.mms.servingsdk.http.Response;

/**
 * SageMaker's health check. MMS's own /ping answers 200 once its workers have started, before
 * they have loaded the model, and still 200 ("Unhealthy" in the body) when every load failed;
 * SageMaker reads only the status code. This one answers 200 only when every model the server
 * was started with (the single model of an endpoint) has a worker holding it, and 503 otherwise.
 * A multi-model server starts with no models, so it is healthy as soon as it listens.
 */
@Endpoint(
        urlPattern = "ping",
        endpointType = EndpointTypes.INFERENCE,
        description = "200 when the model is loaded, 503 while it is not")
public class Ping extends ModelServerEndpoint {

    @Override
    public void doGet(Request request, Response response, Context context) throws IOException {
        ModelManager manager = ModelManager.getInstance();
        List<String> waiting = new ArrayList<>();
        for (String model : manager.getStartupModels()) {
            if (!holdsModel(manager.getWorkers(model))) {
                waiting.add("\"" + model.replace("\\", "\\\\").replace("\"", "\\\"") + "\"");
            }
        }
        String body;
        if (waiting.isEmpty()) {
            response.setStatus(200);
            body = "{\"status\": \"Healthy\"}\n";
        } else {
            response.setStatus(503, "Service Unavailable");
            body = "{\"status\": \"Unhealthy\", \"models_not_loaded\": [" + String.join(", ", waiting) + "]}\n";
        }
        response.setContentType("application/json");
        response.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
    }

    private static boolean holdsModel(List<WorkerThread> workers) {
        if (workers != null) {
            for (WorkerThread worker : workers) {
                if (worker.getState() == WorkerState.WORKER_MODEL_LOADED) {
                    return true;
                }
            }
        }
        return false;
    }
}

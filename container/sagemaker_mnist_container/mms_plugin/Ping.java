package mnist.mms;

import com.amazonaws.ml.mms.wlm.Model;
import com.amazonaws.ml.mms.wlm.ModelManager;
import com.amazonaws.ml.mms.wlm.WorkerState;
import com.amazonaws.ml.mms.wlm.WorkerThread;
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
 * SageMaker's health check. MMS's own /ping answers 200 once its workers have started, before
 * they have loaded the model, and still 200 ("Unhealthy" in the body) when every load failed;
 * SageMaker reads only the status code. This one answers 200 only when the endpoint's model
 * (-Dmnist.endpoint_model, which `serve` sets for a single-model endpoint) has a worker holding
 * it, and 503 otherwise. A multi-model server names none, so it is healthy as soon as it listens.
 *
 * The model is looked up by name in MMS's model map, a ConcurrentHashMap; MMS's set of start-up
 * models is a plain HashSet that the management API's unregister changes from another thread, so
 * it is not walked here.
 */
@Endpoint(
        urlPattern = "ping",
        endpointType = EndpointTypes.INFERENCE,
        description = "200 when the model is loaded, 503 while it is not")
public class Ping extends ModelServerEndpoint {
    private final String endpointModel = System.getProperty("mnist.endpoint_model", "");

    @Override
    public void doGet(Request request, Response response, Context context) throws IOException {
        String body;
        if (endpointModel.isEmpty() || holdsModel(endpointModel)) {
            response.setStatus(200);
            body = "{\"status\": \"Healthy\"}\n";
        } else {
            response.setStatus(503, "Service Unavailable");
            body = "{\"status\": \"Unhealthy\", \"models_not_loaded\": [" + quoted(endpointModel) + "]}\n";
        }
        response.setContentType("application/json");
        response.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
    }

    private static boolean holdsModel(String name) {
        ModelManager manager = ModelManager.getInstance();
        Model model = manager.getModels().get(name);
        if (model == null) {
            return false;
        }
        List<WorkerThread> workers;
        // MMS changes a model's worker list (a plain ArrayList) holding this same lock
        // (WorkLoadManager.modelChanged); its copy is taken under it.
        synchronized (model.getModelName()) {
            workers = manager.getWorkers(name);
        }
        for (WorkerThread worker : workers) {
            if (worker != null && worker.getState() == WorkerState.WORKER_MODEL_LOADED) {
                return true;
            }
        }
        return false;
    }

    static String quoted(String text) {
        return "\"" + text.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }
}

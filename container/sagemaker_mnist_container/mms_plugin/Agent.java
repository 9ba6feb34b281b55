package mnist.mms;

import java.lang.instrument.Instrumentation;
import java.util.ArrayList;
import java.util.List;

/**
 * The plugin jar's entry: -javaagent:mnist-mms-plugin.jar. What each part changes in MMS, why,
 * and how to check it or turn it off: README.md beside this file.
 *
 * MMS finds endpoint plugins on its class path, which its launcher builds from the config file's
 * plugins_path; sagemaker-inference writes that file itself and has no such setting. The JVM
 * appends every -javaagent jar to the class path, so the endpoints (Ping, ExecutionParameters,
 * Batching) are found. The agent also gives MMS's decoder of its backends' answers only whole
 * answers (WholeFrameDecoder), gives MMS's HTTP pipeline the container's front door (HttpFront:
 * JSON 413s, 404/405 from the route table, HEAD /ping, load failures with their reason) and gives
 * MMS's Model worker affinity (WorkerAffinity), unless the JVM is started with
 * -Dmnist.worker_affinity=false.
 *
 * Each rewrite's class is loaded here, before MMS's main runs, so that a rewrite that cannot apply
 * (another MMS or JDK) stops the JVM with its reason instead of letting MMS serve without it; the
 * container's `serve` then exits non-zero.
 */
public final class Agent {
    private Agent() {}

    public static void premain(String arguments, Instrumentation instrumentation) {
        List<ClassRenames> rewrites = new ArrayList<>();
        rewrites.add(WholeFrameDecoder.transformer());
        rewrites.add(HttpFront.transformer());
        boolean affinity = !"false".equalsIgnoreCase(System.getProperty("mnist.worker_affinity", "true"));
        if (affinity) {
            rewrites.add(new WorkerAffinity());
        }
        for (ClassRenames rewrite : rewrites) {
            instrumentation.addTransformer(rewrite);
        }
        List<String> failed = ClassRenames.applyNow(rewrites, ClassLoader.getSystemClassLoader());
        if (!failed.isEmpty()) {
            Console.line("ERROR", "ERROR mnist plugin: the model server does not start without " + failed
                    + " (this image's plugin is written for multi-model-server 1.1.11; the lines above say what"
                    + " differs). Worker affinity alone can be left out with -Dmnist.worker_affinity=false in"
                    + " SAGEMAKER_MODEL_SERVER_VMARGS.");
            System.err.flush();
            System.exit(1);
        }
    }
}

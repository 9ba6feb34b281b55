package mnist.mms;

import java.lang.instrument.Instrumentation;

/**
 * The plugin jar's entry: -javaagent:mnist-mms-plugin.jar. What each part changes in MMS, why,
 * and how to check it or turn it off: README.md beside this file.
 *
 * MMS finds endpoint plugins on its class path, which its launcher builds from the config file's
 * plugins_path; sagemaker-inference writes that file itself and has no such setting. The JVM
 * appends every -javaagent jar to the class path, so the endpoints (Ping, ExecutionParameters,
 * Batching) are found. The agent also gives MMS's decoder of its backends' answers only whole
 * answers (WholeFrameDecoder) and gives MMS's Model worker affinity (WorkerAffinity), unless the
 * JVM is started with -Dmnist.worker_affinity=false.
 */
public final class Agent {
    private Agent() {}

    public static void premain(String arguments, Instrumentation instrumentation) {
        instrumentation.addTransformer(WholeFrameDecoder.transformer());
        boolean affinity = !"false".equalsIgnoreCase(System.getProperty("mnist.worker_affinity", "true"));
        if (affinity) {
            instrumentation.addTransformer(new WorkerAffinity());
        }
    }
}

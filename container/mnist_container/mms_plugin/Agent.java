package mnist.mms;

import java.lang.instrument.Instrumentation;

/**
 * The plugin jar's entry: -javaagent:mnist-mms-plugin.jar.
 *
 * MMS finds endpoint plugins on its class path, which its launcher builds from the config file's
 * plugins_path; sagemaker-inference writes that file itself and has no such setting. The JVM
 * appends every -javaagent jar to the class path, so the endpoints (Ping, ExecutionParameters)
 * are found. The agent also gives MMS's Model worker affinity (see WorkerAffinity), unless the
 * JVM is started with -Dmnist.worker_affinity=false.
 */
public final class Agent {
    private Agent() {}

    public static void premain(String arguments, Instrumentation instrumentation) {
        if (!"false".equalsIgnoreCase(System.getProperty("mnist.worker_affinity", "true"))) {
            instrumentation.addTransformer(new WorkerAffinity());
        }
    }
}

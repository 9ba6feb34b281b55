package mnist.mms;

import java.lang.instrument.Instrumentation;

/**
 * The plugin jar's entry: -javaagent:mnist-mms-plugin.jar.
 *
 * MMS finds endpoint plugins on its class path, which its launcher builds from the config file's
 * plugins_path; sagemaker-inference writes that file itself and has no such setting. The JVM
 * appends every -javaagent jar to the class path, so the endpoints (Ping, ExecutionParameters)
 * are found. The agent also gives MMS's Model worker affinity (see WorkerAffinity), unless the
 * JVM is started with -Dmnist.worker_affinity=false, and with -Dmnist.batch_size above 1 sets the
 * batch size of the model an endpoint starts with (see StartupBatching). MMS's decoder of its
 * backends' answers is given only whole answers (see WholeFrameDecoder).
 */
public final class Agent {
    private Agent() {}

    public static void premain(String arguments, Instrumentation instrumentation) {
        instrumentation.addTransformer(WholeFrameDecoder.transformer());
        boolean affinity = !"false".equalsIgnoreCase(System.getProperty("mnist.worker_affinity", "true"));
        if (affinity) {
            instrumentation.addTransformer(new WorkerAffinity());
        }
        int batchSize = Integer.getInteger("mnist.batch_size", 1);
        if (batchSize > 1) {
            int maxBatchDelay = Integer.getInteger("mnist.max_batch_delay", 0);
            // Only worker affinity's queue can fill a batch without waiting; MMS's own loop cannot.
            WorkerAffinityQueue.fillWithoutWaiting = affinity && maxBatchDelay == 0;
            instrumentation.addTransformer(new StartupBatching(batchSize, maxBatchDelay));
        }
    }
}

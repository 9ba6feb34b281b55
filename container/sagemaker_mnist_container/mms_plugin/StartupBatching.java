package mnist.mms;

import com.amazonaws.ml.mms.wlm.Model;
import com.amazonaws.ml.mms.wlm.ModelManager;
import java.lang.instrument.ClassFileTransformer;
import java.security.ProtectionDomain;
import java.util.ArrayList;
import java.util.ConcurrentModificationException;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Batches for the model an endpoint starts with (-Dmnist.batch_size, -Dmnist.max_batch_delay ms).
 *
 * MMS registers the models it loads at start-up with a batch size of 1 and a 100 ms delay, fixed;
 * only models registered through the management API choose theirs. Under load, requests then wait
 * in the queue one behind the other while each worker runs one forward pass per request. This
 * sets the start-up models' batch size (Model.setBatchSize, MMS's own setting) once MMS has
 * registered them and started their workers, within milliseconds and before a worker has loaded
 * the model (a worker that takes a job before then takes it alone).
 *
 * A delay of 0 means: a batch is the requests already waiting, never a wait for more, so a lone
 * request is not held back. With worker affinity the queue does that (WorkerAffinityQueue's
 * fillWithoutWaiting); MMS's own loop, with a delay of 0, takes at most one request more.
 */
final class StartupBatching implements ClassFileTransformer {
    private static final long GIVE_UP_NANOS = TimeUnit.MINUTES.toNanos(10);

    private final int batchSize;
    private final int maxBatchDelay;
    private final AtomicBoolean started = new AtomicBoolean();

    StartupBatching(int batchSize, int maxBatchDelay) {
        this.batchSize = batchSize;
        this.maxBatchDelay = maxBatchDelay;
    }

    /** MMS loads Model as it registers the first model; from then on the registry is there to read. */
    @Override
    public byte[] transform(ClassLoader loader, String className, Class<?> redefined,
                            ProtectionDomain domain, byte[] classFile) {
        if (WorkerAffinity.MODEL.equals(className) && started.compareAndSet(false, true)) {
            Thread thread = new Thread(this::configure, "mnist-startup-batching");
            thread.setDaemon(true);
            thread.start();
        }
        return null;
    }

    private void configure() {
        long deadline = System.nanoTime() + GIVE_UP_NANOS;
        Set<String> configured = new HashSet<>();
        try {
            while (System.nanoTime() < deadline) {
                ModelManager manager = ModelManager.getInstance();
                if (manager != null) {
                    // MMS lists a model as a start-up model once it has registered it and started
                    // its workers (a plain HashSet, written by its main thread: read a copy).
                    List<String> startup;
                    try {
                        startup = new ArrayList<>(manager.getStartupModels());
                    } catch (ConcurrentModificationException e) {
                        startup = List.of();
                    }
                    Map<String, Model> models = manager.getModels();
                    for (String name : startup) {
                        Model model = models.get(name);
                        if (model != null && configured.add(name)) {
                            apply(model);
                        }
                    }
                    if (!configured.isEmpty() && configured.containsAll(startup)) {
                        return;
                    }
                }
                Thread.sleep(5);
            }
            System.err.println("mnist batching: no start-up model registered in 10 minutes; batches left at MMS's size of 1");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void apply(Model model) {
        model.setBatchSize(batchSize);
        String waiting;
        if (WorkerAffinityQueue.fillWithoutWaiting) {
            // MMS's delay stays as the loop's budget; the queue never waits within it.
            waiting = "only those already waiting";
        } else {
            model.setMaxBatchDelay(maxBatchDelay);
            waiting = maxBatchDelay == 0 ? "at most one more than the first, only if already waiting"
                    : "waiting up to " + maxBatchDelay + " ms for more";
        }
        System.err.println("mnist batching: model " + model.getModelName() + " takes up to " + batchSize
                + " requests at a time, " + waiting);
    }
}

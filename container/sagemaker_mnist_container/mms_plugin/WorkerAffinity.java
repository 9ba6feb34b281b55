package mnist.mms;

import java.util.Map;

/**
 * Makes the MMS worker that became idle last take the next request.
 *
 * MMS's Model.pollBatch lets one worker at a time wait on the model's job queue, behind a lock:
 * the waiting worker takes the next job and hands the lock to the next idle worker. Consecutive
 * requests therefore go to the workers in turn, and at low concurrency every backend process runs
 * with cold caches and a cold interpreter (on a 2-core machine, one worker answered 325-426 req/s
 * at concurrency 1 where two answered 225-300). Under load every worker is busy, so the order
 * does not matter there.
 *
 * When the JVM loads Model, this renames two classes in its constant pool: its lock becomes a
 * PassThroughLock (every worker waits on the queue at once) and its job queues become
 * WorkerAffinityQueue, which hands each job to the waiter that arrived last. Nothing else in
 * Model changes. If this MMS's Model does not name both classes, it is left as it is (stock
 * order, with a line on stderr).
 */
final class WorkerAffinity extends ClassRenames {
    static final String MODEL = "com/amazonaws/ml/mms/wlm/Model";
    static final String FEATURE = "mnist worker affinity";
    static final Map<String, String> RENAMES = Map.of(
            "java/util/concurrent/locks/ReentrantLock", "mnist/mms/PassThroughLock",
            "java/util/concurrent/LinkedBlockingDeque", "mnist/mms/WorkerAffinityQueue");

    WorkerAffinity() {
        super(MODEL, RENAMES, FEATURE,
                "on (the worker idle last takes the next job; -Dmnist.worker_affinity=false for MMS's own order)");
    }
}

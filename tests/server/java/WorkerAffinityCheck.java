import com.amazonaws.ml.mms.util.messages.RequestInput;
import com.amazonaws.ml.mms.util.messages.WorkerCommands;
import com.amazonaws.ml.mms.wlm.Job;
import com.amazonaws.ml.mms.wlm.Model;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.TimeUnit;

/**
 * Drives MMS's real Model.pollBatch with worker threads as MMS's WorkerThread calls it, and prints
 * what happened as one JSON object (tests/server/test_worker_affinity.py reads it). Run with the
 * plugin jar as -javaagent, with and without -Dmnist.worker_affinity=false.
 */
public final class WorkerAffinityCheck {
    static final long FOREVER = Long.MAX_VALUE;
    static final long DEADLINE_MS = 10_000;

    /** A worker: polls the model like WorkerThread, records which jobs it got, "runs" them. */
    static final class Worker extends Thread {
        final Model model;
        final long workMillis;
        final List<Integer> batches = new ArrayList<>();
        final ConcurrentMap<String, String> servedBy;
        volatile boolean interruptedInPoll;

        Worker(String name, Model model, long workMillis, ConcurrentMap<String, String> servedBy) {
            super(name);
            this.model = model;
            this.workMillis = workMillis;
            this.servedBy = servedBy;
            setDaemon(true);
        }

        @Override
        public void run() {
            while (true) {
                Map<String, Job> jobs = new HashMap<>();
                try {
                    model.pollBatch(getName(), FOREVER, jobs);
                    synchronized (batches) {
                        batches.add(jobs.size());
                    }
                    if (workMillis > 0) {
                        Thread.sleep(workMillis);
                    }
                } catch (InterruptedException e) {
                    interruptedInPoll = jobs.isEmpty();
                    return;
                }
                for (String id : jobs.keySet()) {
                    servedBy.put(id, getName());
                }
            }
        }
    }

    static int ids;

    static Job job() {
        return new Job(null, "mnist", WorkerCommands.PREDICT, new RequestInput("job-" + ids++));
    }

    static void waitFor(String what, java.util.function.BooleanSupplier condition) throws Exception {
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(DEADLINE_MS);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > end) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(1);
        }
    }

    static boolean parked(Thread t) {
        Thread.State s = t.getState();
        return s == Thread.State.WAITING || s == Thread.State.TIMED_WAITING;
    }

    static Map<String, Integer> count(Map<String, String> servedBy) {
        Map<String, Integer> counts = new java.util.TreeMap<>();
        for (String worker : servedBy.values()) {
            counts.merge(worker, 1, Integer::sum);
        }
        return counts;
    }

    static Object field(Object owner, String name) throws Exception {
        Field f = Model.class.getDeclaredField(name);
        f.setAccessible(true);
        return f.get(owner);
    }

    static List<Worker> start(Model model, int n, long workMillis, ConcurrentMap<String, String> servedBy)
            throws Exception {
        List<Worker> workers = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Worker w = new Worker("worker-" + i, model, workMillis, servedBy);
            w.start();
            workers.add(w);
            waitFor("worker-" + i + " to wait", () -> parked(w));
        }
        return workers;
    }

    public static void main(String[] args) throws Exception {
        StringBuilder out = new StringBuilder("{");

        // Which lock and data queue the JVM gave Model.
        Model model = new Model(null, 100, null);
        @SuppressWarnings("unchecked")
        Map<String, Object> jobsDb = (Map<String, Object>) field(model, "jobsDb");
        out.append("\"lock\": \"").append(field(model, "lock").getClass().getName()).append("\", ");
        out.append("\"queue\": \"").append(jobsDb.get(Model.DEFAULT_DATA_QUEUE).getClass().getName())
                .append("\", ");

        // Concurrency 1: each job is added once every worker is idle again. Each job takes 2 ms, as
        // a backend's round trip does: a worker that came straight back would take the stock lock
        // again before the thread it released could (the lock is not fair), which MMS never does.
        ConcurrentMap<String, String> servedBy = new ConcurrentHashMap<>();
        List<Worker> workers = start(model, 2, 2, servedBy);
        for (int i = 0; i < 40; i++) {
            Job j = job();
            model.addJob(j);
            waitFor(j.getJobId() + " to be served", () -> servedBy.containsKey(j.getJobId()));
            waitFor("idle workers", () -> workers.stream().allMatch(WorkerAffinityCheck::parked));
        }
        out.append("\"sequential\": ").append(json(count(servedBy))).append(", ");

        // Concurrency 8: 40 jobs at once to workers that take 5 ms each.
        Model busy = new Model(null, 100, null);
        ConcurrentMap<String, String> busyServed = new ConcurrentHashMap<>();
        start(busy, 2, 5, busyServed);
        for (int i = 0; i < 40; i++) {
            busy.addJob(job());
        }
        waitFor("40 jobs served", () -> busyServed.size() == 40);
        out.append("\"concurrent\": ").append(json(count(busyServed))).append(", ");

        // Batching: batch size 4, delay 2 s: four jobs added one after another form one batch.
        Model batching = new Model(null, 100, null);
        batching.setBatchSize(4);
        batching.setMaxBatchDelay(2000);
        ConcurrentMap<String, String> batchServed = new ConcurrentHashMap<>();
        List<Worker> batchWorkers = start(batching, 2, 0, batchServed);
        for (int i = 0; i < 4; i++) {
            batching.addJob(job());
            Thread.sleep(20);
        }
        waitFor("4 batched jobs served", () -> batchServed.size() == 4);
        List<Integer> batches = new ArrayList<>();
        for (Worker w : batchWorkers) {
            synchronized (w.batches) {
                batches.addAll(w.batches);
            }
        }
        out.append("\"batches\": ").append(batches).append(", ");

        // Batches of what is waiting: three jobs stored before a worker polls are one batch; a lone
        // job waits out the batch delay (1 s, or -Dcheck.lone_batch_delay_ms) for company, unless
        // the plugin's /batching was asked for a delay of 0 (-Dcheck.batching_delay_0: what it
        // does, Batching.apply, on this model), which makes the queue fill batches without waiting.
        // Given a delay far beyond DEADLINE_MS, a lone job served at all did not wait: no clock to
        // compare.
        Model waiting = new Model(null, 100, null);
        waiting.setBatchSize(4);
        waiting.setMaxBatchDelay(Integer.getInteger("check.lone_batch_delay_ms", 1000));
        if (Boolean.getBoolean("check.batching_delay_0")) {
            out.append("\"batching\": \"").append(mnist.mms.Batching.apply(waiting, 4, 0)).append("\", ");
        }
        for (int i = 0; i < 3; i++) {
            waiting.addJob(job());
        }
        ConcurrentMap<String, String> waitingServed = new ConcurrentHashMap<>();
        List<Worker> waitingWorkers = start(waiting, 1, 0, waitingServed);
        waitFor("3 stored jobs served", () -> waitingServed.size() == 3);
        Job lone = job();
        long added = System.nanoTime();
        waiting.addJob(lone);
        waitFor("the lone job served", () -> waitingServed.containsKey(lone.getJobId()));
        long loneMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - added);
        synchronized (waitingWorkers.get(0).batches) {
            out.append("\"stored_batches\": ").append(waitingWorkers.get(0).batches).append(", ");
        }
        out.append("\"lone_job_ms\": ").append(loneMillis).append(", ");

        // A worker stopped while waiting (MMS interrupts it): the next job goes to the other one.
        Model stopping = new Model(null, 100, null);
        ConcurrentMap<String, String> stopServed = new ConcurrentHashMap<>();
        List<Worker> stopWorkers = start(stopping, 2, 0, stopServed);
        Worker last = stopWorkers.get(1);
        last.interrupt();
        waitFor("the interrupted worker to stop", () -> !last.isAlive());
        Job after = job();
        stopping.addJob(after);
        waitFor("the job after the stop to be served", () -> stopServed.containsKey(after.getJobId()));
        out.append("\"interrupted_in_poll\": ").append(last.interruptedInPoll).append(", ");
        out.append("\"served_after_stop_by\": \"").append(stopServed.get(after.getJobId())).append("\", ");

        // Job queue capacity (MMS's job_queue_size: it answers 503 when offer fails), and order:
        // a retried job (addFirst) goes before the stored ones, the rest in arrival order.
        Model full = new Model(null, 3, null);
        Job a = job();
        Job b = job();
        Job retried = job();
        out.append("\"accepted\": [").append(full.addJob(a)).append(", ").append(full.addJob(b));
        full.addFirst(retried);
        out.append(", ").append(full.addJob(job())).append("], ");
        List<String> order = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Map<String, Job> jobs = new HashMap<>();
            full.pollBatch("main", FOREVER, jobs);
            order.addAll(jobs.keySet());
        }
        boolean inOrder = order.equals(List.of(retried.getJobId(), a.getJobId(), b.getJobId()));
        out.append("\"stored_order_kept\": ").append(inOrder).append("}");
        System.out.println(out);
    }

    static String json(Map<String, Integer> counts) {
        StringBuilder s = new StringBuilder("{");
        for (Map.Entry<String, Integer> e : counts.entrySet()) {
            if (s.length() > 1) {
                s.append(", ");
            }
            s.append('"').append(e.getKey()).append("\": ").append(e.getValue());
        }
        return s.append('}').toString();
    }
}

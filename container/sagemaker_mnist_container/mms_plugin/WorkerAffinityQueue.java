package mnist.mms;

import java.util.ArrayDeque;
import java.util.Objects;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A Model's job queue under WorkerAffinity. A job offered while workers wait is handed straight to
 * one of them: first to a worker waiting with a deadline (MMS's pollBatch waits with one only
 * while it fills a batch it has started, so batches fill as they do in stock MMS), else to the
 * worker that started waiting last. Jobs offered while no worker waits are stored in the deque
 * as usual (its capacity is MMS's job_queue_size) and taken in order.
 *
 * MMS puts jobs in with offer and addFirst and takes them with poll(timeout). The blocking
 * inserts and the waiting takes from the back, which MMS does not use, are refused rather than
 * let them bypass the waiting workers.
 */
public class WorkerAffinityQueue<E> extends LinkedBlockingDeque<E> {
    private static final long serialVersionUID = 1L;

    private static final class Waiter<E> {
        final Condition handed;
        E job;

        Waiter(Condition handed) {
            this.handed = handed;
        }
    }

    // Guards the waiter lines and makes "store, or hand to a waiter" atomic with "take, or wait".
    private final ReentrantLock handOff = new ReentrantLock();
    private final ArrayDeque<Waiter<E>> fillingBatch = new ArrayDeque<>();
    private final ArrayDeque<Waiter<E>> idle = new ArrayDeque<>();

    // Set by Batching for a batch delay of 0: a worker filling a batch takes what is waiting and
    // never waits for more, so a lone request is not held back by the delay.
    static volatile boolean fillWithoutWaiting;
    // Whether MMS's Model made one of these, that is, whether WorkerAffinity applied.
    static volatile boolean inUse;

    public WorkerAffinityQueue() {
        super();
        inUse = true;
    }

    public WorkerAffinityQueue(int capacity) {
        super(capacity);
        inUse = true;
    }

    @Override
    public boolean offerLast(E job) {
        return handOrStore(job, false);
    }

    @Override
    public boolean offerFirst(E job) {
        return handOrStore(job, true);
    }

    private boolean handOrStore(E job, boolean first) {
        handOff.lock();
        try {
            return handToWaiter(job) || (first ? super.offerFirst(job) : super.offerLast(job));
        } finally {
            handOff.unlock();
        }
    }

    @Override
    public E poll(long timeout, TimeUnit unit) throws InterruptedException {
        long nanos = unit.toNanos(timeout);
        boolean indefinite = nanos == Long.MAX_VALUE; // toNanos saturates: Long.MAX_VALUE ms is forever
        handOff.lockInterruptibly();
        try {
            E job = super.pollFirst();
            if (job != null || nanos <= 0 || !indefinite && fillWithoutWaiting) {
                return job;
            }
            Waiter<E> waiter = new Waiter<>(handOff.newCondition());
            ArrayDeque<Waiter<E>> line = indefinite ? idle : fillingBatch;
            line.addLast(waiter);
            try {
                while (waiter.job == null && (indefinite || nanos > 0)) {
                    if (indefinite) {
                        waiter.handed.await();
                    } else {
                        nanos = waiter.handed.awaitNanos(nanos);
                    }
                }
            } catch (InterruptedException interrupted) {
                if (waiter.job == null) {
                    line.remove(waiter);
                    throw interrupted;
                }
                // Handed a job while being interrupted (MMS interrupts a worker it stops): pass the
                // job on rather than lose it; keep it only if there is nowhere to put it.
                if (handToWaiter(waiter.job) || super.offerFirst(waiter.job)) {
                    throw interrupted;
                }
                Thread.currentThread().interrupt();
                return waiter.job;
            }
            if (waiter.job == null) {
                line.remove(waiter);
            }
            return waiter.job;
        } finally {
            handOff.unlock();
        }
    }

    @Override
    public E take() throws InterruptedException {
        return poll(Long.MAX_VALUE, TimeUnit.NANOSECONDS);
    }

    @Override
    public E pollFirst(long timeout, TimeUnit unit) throws InterruptedException {
        return poll(timeout, unit);
    }

    @Override
    public E takeFirst() throws InterruptedException {
        return take();
    }

    @Override
    public E pollLast(long timeout, TimeUnit unit) {
        throw new UnsupportedOperationException("waiting takes are from the front only; use poll");
    }

    @Override
    public E takeLast() {
        throw new UnsupportedOperationException("waiting takes are from the front only; use take");
    }

    @Override
    public void putFirst(E job) {
        throw new UnsupportedOperationException("blocking inserts are not supported; use offerFirst");
    }

    @Override
    public void putLast(E job) {
        throw new UnsupportedOperationException("blocking inserts are not supported; use offerLast");
    }

    @Override
    public boolean offerFirst(E job, long timeout, TimeUnit unit) {
        throw new UnsupportedOperationException("blocking inserts are not supported; use offerFirst");
    }

    @Override
    public boolean offerLast(E job, long timeout, TimeUnit unit) {
        throw new UnsupportedOperationException("blocking inserts are not supported; use offerLast");
    }

    // Called with handOff held.
    private boolean handToWaiter(E job) {
        Objects.requireNonNull(job);
        Waiter<E> waiter = fillingBatch.pollFirst();
        if (waiter == null) {
            waiter = idle.pollLast();
        }
        if (waiter == null) {
            return false;
        }
        waiter.job = job;
        waiter.handed.signal();
        return true;
    }
}

package mnist.mms;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The lock of a Model under WorkerAffinity: it never excludes, so every idle worker waits on the
 * job queue at once and WorkerAffinityQueue, not this lock, decides who takes the next job. It
 * reports itself never held, so the unlock in pollBatch's finally is skipped.
 */
public class PassThroughLock extends ReentrantLock {
    private static final long serialVersionUID = 1L;

    @Override
    public void lock() {}

    @Override
    public void lockInterruptibly() throws InterruptedException {
        if (Thread.interrupted()) {
            throw new InterruptedException();
        }
    }

    @Override
    public boolean tryLock() {
        return true;
    }

    @Override
    public boolean tryLock(long timeout, TimeUnit unit) throws InterruptedException {
        lockInterruptibly();
        return true;
    }

    @Override
    public void unlock() {}

    @Override
    public boolean isHeldByCurrentThread() {
        return false;
    }

    @Override
    public boolean isLocked() {
        return false;
    }
}

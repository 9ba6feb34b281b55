package mnist.mms;

/**
 * java -javaagent:mnist-mms-plugin.jar -cp model-server.jar mnist.mms.SelfCheck: the agent's
 * start-up check, run alone. The agent applies every rewrite of MMS's classes before any main
 * runs and stops the JVM (exit 1, with the reason on stderr) if one does not apply, so reaching
 * this main means they all did. The image build runs it (sagemaker_mnist_container.plugin
 * --check), so that an MMS whose classes differ from 1.1.11's fails the build, not the first
 * start. Run with -Dmnist.worker_affinity=false, it checks that worker affinity stays off.
 */
public final class SelfCheck {
    private SelfCheck() {}

    public static void main(String[] args) {
        boolean affinity = !"false".equalsIgnoreCase(System.getProperty("mnist.worker_affinity", "true"));
        boolean ok = check(WholeFrameDecoder.FEATURE, true) & check(HttpFront.FEATURE, true)
                & check(WorkerAffinity.FEATURE, affinity);
        System.exit(ok ? 0 : 1);
    }

    private static boolean check(String feature, boolean expected) {
        Boolean applied = ClassRenames.OUTCOMES.get(feature);
        boolean ok = expected ? Boolean.TRUE.equals(applied) : applied == null;
        System.out.println((ok ? "ok     " : "FAILED ") + feature + ": "
                + (applied == null ? "not applied" : applied ? "applied" : "could not be applied"));
        return ok;
    }
}

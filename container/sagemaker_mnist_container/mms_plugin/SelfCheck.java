package mnist.mms;

/**
 * java -javaagent:mnist-mms-plugin.jar -cp model-server.jar mnist.mms.SelfCheck: loads the MMS
 * classes the agent rewrites and exits 1 unless every rewrite applied. The image build runs it
 * (sagemaker_mnist_container.plugin --check), so that an MMS whose classes differ from 1.1.11's
 * fails the build instead of serving without the fixes. Run with -Dmnist.worker_affinity=false, it
 * expects worker affinity off.
 */
public final class SelfCheck {
    private SelfCheck() {}

    public static void main(String[] args) throws ClassNotFoundException {
        ClassLoader loader = SelfCheck.class.getClassLoader();
        // Loading (not initialising) a class is what runs the agent's transformers on it.
        Class.forName("com.amazonaws.ml.mms.wlm.Model", false, loader);
        Class.forName(WholeFrameDecoder.WORKER_CHANNEL.replace('/', '.'), false, loader);
        boolean affinity = !"false".equalsIgnoreCase(System.getProperty("mnist.worker_affinity", "true"));
        boolean ok = check(WholeFrameDecoder.FEATURE, true) & check(WorkerAffinity.FEATURE, affinity);
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

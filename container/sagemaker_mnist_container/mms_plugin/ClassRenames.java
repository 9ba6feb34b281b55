package mnist.mms;

import java.lang.instrument.ClassFileTransformer;
import java.security.ProtectionDomain;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Renames classes in one MMS class's constant pool as the JVM loads it (ConstantPoolRenamer), so
 * that it uses one of ours in place of a class it names. If that class does not name every class
 * to rename (another MMS version), it is left as it is, with an error line on stderr; what each
 * rename came to is kept in OUTCOMES, which SelfCheck reads when the image is built.
 */
class ClassRenames implements ClassFileTransformer {
    /** Feature name: true once its class was rewritten, false if it was left unchanged. */
    static final Map<String, Boolean> OUTCOMES = new ConcurrentHashMap<>();

    private final String target;
    private final Map<String, String> renames;
    private final String feature;
    private final String onMessage;

    ClassRenames(String target, Map<String, String> renames, String feature, String onMessage) {
        this.target = target;
        this.renames = renames;
        this.feature = feature;
        this.onMessage = onMessage;
    }

    @Override
    public byte[] transform(ClassLoader loader, String className, Class<?> redefined,
                            ProtectionDomain domain, byte[] classFile) {
        if (!target.equals(className)) {
            return null;
        }
        try {
            ConstantPoolRenamer.Result result = ConstantPoolRenamer.rename(classFile, renames);
            if (!result.renamed.equals(renames.keySet())) {
                return leftUnchanged("it does not name " + renames.keySet() + " (found " + result.renamed + ")");
            }
            OUTCOMES.put(feature, true);
            System.err.println(feature + ": " + onMessage);
            return result.classFile;
        } catch (RuntimeException e) {
            return leftUnchanged(e.toString());
        }
    }

    private byte[] leftUnchanged(String why) {
        OUTCOMES.put(feature, false);
        System.err.println("ERROR " + feature + ": NOT APPLIED, " + target + " left unchanged: " + why);
        return null;
    }
}

package mnist.mms;

import java.lang.instrument.ClassFileTransformer;
import java.security.ProtectionDomain;
import java.util.Map;

/**
 * Renames classes in one MMS class's constant pool as the JVM loads it (ConstantPoolRenamer), so
 * that it uses one of ours in place of a class it names. If that class does not name every class
 * to rename (another MMS version), it is left as it is, with a line on stderr.
 */
class ClassRenames implements ClassFileTransformer {
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
                System.err.println(feature + ": " + target + " does not name " + renames.keySet()
                        + " (found " + result.renamed + "); left unchanged");
                return null;
            }
            System.err.println(feature + ": " + onMessage);
            return result.classFile;
        } catch (RuntimeException e) {
            System.err.println(feature + ": left " + target + " unchanged: " + e);
            return null;
        }
    }
}

package mnist.mms;

import java.lang.instrument.ClassFileTransformer;
import java.security.ProtectionDomain;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Renames classes in one MMS class's constant pool as the JVM loads it (ConstantPoolRenamer), so
 * that it uses one of ours in place of a class it names. If that class does not name every class
 * to rename (another MMS version), it is left as it is, with an error line on stderr; what each
 * rename came to is kept in OUTCOMES. The agent loads every target class at once (applyNow) and
 * stops the JVM if a rewrite did not apply.
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

    /**
     * Loads (without initialising) each rewrite's class through `loader`, which runs the
     * transformers on it; returns the features whose rewrite did not apply.
     */
    static List<String> applyNow(List<ClassRenames> rewrites, ClassLoader loader) {
        List<String> failed = new ArrayList<>();
        for (ClassRenames rewrite : rewrites) {
            try {
                Class.forName(rewrite.target.replace('/', '.'), false, loader);
            } catch (ClassNotFoundException | LinkageError e) {
                rewrite.leftUnchanged("the class cannot be loaded: " + e);
            }
            if (!Boolean.TRUE.equals(OUTCOMES.get(rewrite.feature))) {
                failed.add(rewrite.feature);
            }
        }
        return failed;
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
            Console.line("INFO", feature + ": " + onMessage);
            return result.classFile;
        } catch (RuntimeException e) {
            return leftUnchanged(e.toString());
        }
    }

    private byte[] leftUnchanged(String why) {
        OUTCOMES.put(feature, false);
        Console.line("ERROR", "ERROR " + feature + ": NOT APPLIED, " + target + " left unchanged: " + why);
        return null;
    }
}

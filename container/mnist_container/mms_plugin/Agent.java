package mnist.mms;

/**
 * Lets the plugin jar join MMS's class path. MMS finds endpoint plugins on its class path, which
 * its launcher builds from the config file's plugins_path; sagemaker-inference writes that file
 * itself and has no such setting. The JVM appends every -javaagent jar to the class path, and an
 * agent needs only this method.
 */
public final class Agent {
    private Agent() {}

    public static void premain(String arguments) {}
}

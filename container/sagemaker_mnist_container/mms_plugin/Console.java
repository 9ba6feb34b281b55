package mnist.mms;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/**
 * The plugin's own lines on the JVM's standard error, which it writes outside log4j (the agent's
 * lines come before MMS has configured log4j). With -Dmnist.log_layout=JSON (serve sets it for
 * SAGEMAKER_MNIST_LOG_FORMAT=json) each is one JSON object with the fields of the container's
 * other lines (sagemaker_mnist_container/logs.py), so that every line of the log is one.
 */
final class Console {
    private static final DateTimeFormatter TIME =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

    private Console() {}

    /** Writes `text` at `level` (Python's level names: INFO, WARNING, ERROR). */
    static void line(String level, String text) {
        if ("JSON".equals(System.getProperty("mnist.log_layout"))) {
            System.err.println("{\"time\":\"" + TIME.format(Instant.now()) + "\",\"level\":\"" + level
                    + "\",\"logger\":\"mnist.mms\",\"message\":" + quoted(text) + "}");
        } else {
            System.err.println(text);
        }
    }

    static String quoted(String text) {
        StringBuilder out = new StringBuilder(text.length() + 2).append('"');
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"').toString();
    }
}

package mnist.mms;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * Why a multi-model endpoint's model failed to load, as its worker left it before it exited
 * (sagemaker_mnist_container.load_failure.give_up): MMS's own answer to the load request says
 * only "Failed to start workers", with status 500 whatever the cause. One file per model name,
 * in the folder `serve` names with -Dmnist.load_failures_dir (unset: no reports).
 */
final class LoadFailures {
    static final String DIR_PROPERTY = "mnist.load_failures_dir";

    private LoadFailures() {}

    /** A worker's report: the status it asks for (400: the model's files or code; 507: memory) and why. */
    static final class Report {
        final int status;
        final String reason;

        Report(int status, String reason) {
            this.status = status;
            this.reason = reason;
        }
    }

    /** The report for `model` written at `since` (epoch ms) or later, removed as it is read; else null. */
    static Report take(String model, long since) {
        String dir = System.getProperty(DIR_PROPERTY, "");
        if (dir.isEmpty() || model == null) {
            return null;
        }
        Path file = Paths.get(dir, fileName(model));
        try {
            // A second of slack: file times may be coarser than the clock.
            if (!Files.isRegularFile(file) || Files.getLastModifiedTime(file).toMillis() < since - 1000) {
                return null;
            }
            String text = new String(Files.readAllBytes(file), StandardCharsets.UTF_8);
            Files.deleteIfExists(file);
            JsonObject report = JsonParser.parseString(text).getAsJsonObject();
            return new Report(report.get("status").getAsInt(), report.get("reason").getAsString());
        } catch (IOException | RuntimeException e) {
            Console.line("WARNING", "mnist plugin: could not read the load failure report " + file + ": " + e);
            return null;
        }
    }

    /** The model name in hexadecimal UTF-8, as load_failure.report_name writes it: any name is a safe file name. */
    static String fileName(String model) {
        StringBuilder name = new StringBuilder();
        for (byte b : model.getBytes(StandardCharsets.UTF_8)) {
            name.append(String.format("%02x", b & 0xff));
        }
        return name.append(".json").toString();
    }
}

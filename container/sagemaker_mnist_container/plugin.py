"""Builds the model server's plugin (mms_plugin/*.java; mms_plugin/README.md says what each part
changes in MMS): the /ping, /execution-parameters and /batching endpoints, and the agent that
decodes backends' answers whole, puts the container's front door in MMS's HTTP pipeline (405,
404, HEAD, JSON 413s, load failures with their reason) and gives MMS's workers affinity.

    python -m sagemaker_mnist_container.plugin JAR            # build
    python -m sagemaker_mnist_container.plugin --check JAR    # check that its rewrites apply

compiles the sources against the installed multi-model-server's jar and writes JAR; --check runs
the jar's SelfCheck against that MMS and exits 1 unless every rewrite of MMS's classes applies.
The image build runs both (Dockerfile.serve); the server tests and the benchmark build it on the
host. It needs
only a Java runtime: Debian's openjdk-17-jre-headless carries the compiler module, which
`java -m jdk.compiler/...` runs as javac.
"""
import os
import pathlib
import subprocess
import sys
import tempfile
import zipfile

import mms

SOURCE_DIR = pathlib.Path(__file__).resolve().parent / "mms_plugin"
# The class path MMS's launcher gives the JVM does not list plugins; an agent jar joins it.
AGENT_CLASS = "mnist.mms.Agent"
ENDPOINT_INTERFACE = "software.amazon.ai.mms.servingsdk.ModelServerEndpoint"
SELF_CHECK_CLASS = "mnist.mms.SelfCheck"
ENDPOINT_CLASSES = ("mnist.mms.Ping", "mnist.mms.ExecutionParameters", "mnist.mms.Batching")


def model_server_jar():
    return pathlib.Path(mms.__file__).resolve().parent / "frontend" / "model-server.jar"


def javac(sources, classes, class_path, java="java"):
    """Compiles Java sources into the folder `classes` against the jars in class_path."""
    subprocess.run(
        [java, "-m", "jdk.compiler/com.sun.tools.javac.Main", "--release", "17", "-nowarn",
         "-cp", os.pathsep.join(str(p) for p in class_path), "-d", str(classes), *map(str, sources)],
        check=True,
    )


def build(jar_path, java="java"):
    """Compiles the plugin and writes it as an agent jar at jar_path; returns the path."""
    jar_path = pathlib.Path(jar_path)
    sources = sorted(str(p) for p in SOURCE_DIR.glob("*.java"))
    with tempfile.TemporaryDirectory() as classes:
        javac(sources, classes, [model_server_jar()], java)
        jar_path.parent.mkdir(parents=True, exist_ok=True)
        staging = jar_path.with_name(jar_path.name + ".tmp")
        with zipfile.ZipFile(staging, "w", zipfile.ZIP_DEFLATED) as jar:
            jar.writestr("META-INF/MANIFEST.MF",
                         "Manifest-Version: 1.0\r\nPremain-Class: %s\r\n\r\n" % AGENT_CLASS)
            # java.util.ServiceLoader, which MMS uses to find endpoints, reads this file.
            jar.writestr("META-INF/services/" + ENDPOINT_INTERFACE, "\n".join(ENDPOINT_CLASSES) + "\n")
            for root, _, files in os.walk(classes):
                for name in sorted(files):
                    path = pathlib.Path(root, name)
                    jar.write(path, path.relative_to(classes).as_posix())
        os.replace(staging, jar_path)
    return jar_path


def check(jar_path, java="java", vmargs=(), class_path=()):
    """Runs the plugin's SelfCheck (mms_plugin/SelfCheck.java) in a JVM with the agent on the
    installed MMS (class_path entries go before MMS's jar); returns the CompletedProcess, whose
    returncode is 0 only if every rewrite applied."""
    entries = [*map(str, class_path), str(model_server_jar())]
    return subprocess.run([java, *vmargs, "-javaagent:%s" % jar_path, "-cp", os.pathsep.join(entries),
                           SELF_CHECK_CLASS], capture_output=True, text=True, timeout=120)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        done = check(sys.argv[2])
        sys.stdout.write(done.stdout + done.stderr)
        sys.exit(done.returncode)
    if len(sys.argv) != 2:
        sys.exit("usage: python -m sagemaker_mnist_container.plugin [--check] JAR")
    build(sys.argv[1])

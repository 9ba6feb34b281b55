"""An earlier commit's serving path on the host, run as that commit's own bench/serve_speed.py ran
its "ours": for trees from before the rename of 37af577 (code/mnist, container/mnist_container),
such as 666cce5.

bench/serve_paths.py runs this file in a process of its own, never imports it:

    cd TREE && PYTHONPATH=TREE/tests:TREE/code:TREE/container python -P bench/baseline_server.py \\
        WEIGHTS MODEL_DIR WORKDIR CURRENT_TREE

-P keeps this file's folder off sys.path, so that the tree's modules (and the environment's
site-packages) are all it imports; it stops if a module of CURRENT_TREE was imported all the same.
WEIGHTS holds model.pth and model.json as the current tree saves them (their layout has not
changed since); the tree's own mnist.model.load reads them, and its mnist.artifacts.write lays
out MODEL_DIR with the tree's serving code. It builds the tree's plugin jar (mnist_container.plugin,
from its own mms_plugin/*.java), starts its tests/serving_fixtures.ModelServer with its handler
service and the preloader, waits for /ping 200, prints `serving URL`, and then serves until
SIGTERM or until its standard input closes (the bench has gone), when it stops the server.
"""
import json
import os
import pathlib
import signal
import sys

HANDLER = "mnist_container.handler_service"  # that tree's bench: OURS_HANDLER


def imported_from(folder):
    """The modules imported from `folder` (this file itself aside, and the Python environment's
    packages: a virtual environment may live inside the checkout, as .venv does)."""
    folder = os.path.realpath(folder) + os.sep
    environment = os.path.realpath(sys.prefix) + os.sep
    this = sys.modules["__main__"]  # multiprocessing also lists it as __mp_main__
    files = {name: os.path.realpath(getattr(module, "__file__", None) or "")
             for name, module in sys.modules.items() if module is not this}
    return sorted(name for name, path in files.items()
                  if path.startswith(folder) and not path.startswith(environment))


def main(argv):
    if len(argv) != 4:
        sys.exit("usage: python -P bench/baseline_server.py WEIGHTS MODEL_DIR WORKDIR CURRENT_TREE")
    weights, model_dir, workdir, current = argv
    workdir = pathlib.Path(workdir)
    try:
        import serving_fixtures  # the tree's tests/serving_fixtures.py
        from mnist import artifacts
        from mnist import model as mnist_model
        from mnist_container import plugin
    except ImportError as e:
        sys.exit("baseline_server: %s; the tree needs code/mnist, container/mnist_container and "
                 "tests/serving_fixtures.py (the layout before 37af577)" % e)
    leaked = imported_from(current)
    if leaked:
        sys.exit("baseline_server: modules of the current tree were imported: %s" % ", ".join(leaked))

    with open(os.path.join(weights, mnist_model.CONFIG_FILE)) as f:
        config = json.load(f)
    artifacts.write(model_dir, mnist_model.load(weights), config)
    jar = plugin.build(workdir / "plugin.jar")
    server = serving_fixtures.ModelServer(workdir / "server", jar, model_dir, handler=HANDLER, preload=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.start()
        server.wait_healthy()
        print("serving %s" % server.url, flush=True)
        sys.stdin.read()
    finally:
        server.stop()


if __name__ == "__main__":
    main(sys.argv[1:])

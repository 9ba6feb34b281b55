"""What the README's two commands take from a fresh clone with nothing beside it.

    .venv/bin/python bench/fresh_clone.py              # both commands, about 35 minutes on 2 cores
    .venv/bin/python bench/fresh_clone.py --commands scripts/local.sh
    .venv/bin/python bench/fresh_clone.py --commands scripts/local.sh --cold   # images built from nothing

Clones the repository's HEAD into an empty temporary folder (so no sibling folder can help it,
as on a user's machine), runs each command there in turn as a user would, with no MNIST_DIR and
no CI variable, and records its wall time, exit status and last lines of output. A clone
brings no Python environments, so both are created in it from the package registries; what the
machine already had (a Docker engine, the images' layers in Docker's cache) is recorded beside
the times, since it decides how long the set-up takes.

With --cold it first removes the project's images, the base image build.sh makes and Docker's
build cache, so that the set-up builds everything (all but the engine itself) as on a new machine.

Writes bench/results/fresh_clone.json (fresh_clone_cold.json with --cold); bench/publish.py puts
their tables in the README.
"""
import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import provenance

REPO = provenance.REPO
COMMANDS = ("scripts/local.sh", "scripts/test.sh")
# The project's images and the base build.sh makes when none can be pulled: whether their
# layers are cached decides whether the set-up builds torch's 6 GB of layers again.
IMAGES = ("mnist-pytorch-training:latest", "mnist-pytorch-inference:latest", "mnist-base:bookworm-debootstrap")
# Variables that would hand the clone something from outside it, or change what the tests do.
SCRUBBED = ("MNIST_DIR", "CI", "SERVE_IMAGE", "TRAIN_IMAGE", "PYTEST_ADDOPTS")
TAIL_LINES = 15


def machine_state():
    """What the clone finds on the machine before its first command."""
    docker = shutil.which("docker")
    engine = bool(docker) and subprocess.run([docker, "info"], capture_output=True).returncode == 0
    cached = [image for image in IMAGES if engine and subprocess.run(
        [docker, "image", "inspect", image], capture_output=True).returncode == 0]
    return {"docker_engine_answers": engine, "images_cached": cached,
            "java": shutil.which("java") is not None}


def forget_images():
    docker = shutil.which("docker")
    if not docker:
        return
    names = subprocess.run([docker, "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                           text=True).stdout.split()
    ours = [name for name in names if name.split(":")[0] in {image.split(":")[0] for image in IMAGES}]
    if ours:
        subprocess.run([docker, "rmi", "-f", *ours], check=True, capture_output=True)
    subprocess.run([docker, "builder", "prune", "-af"], check=True, capture_output=True)


def run_command(command, clone, env):
    print("== %s in %s" % (command, clone), flush=True)
    started = time.monotonic()
    process = subprocess.Popen(["bash", command], cwd=clone, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    tail = []
    for line in process.stdout:
        sys.stdout.write(line)
        tail = (tail + [line.rstrip("\n")])[-TAIL_LINES:]
    returncode = process.wait()
    return {"command": command, "seconds": round(time.monotonic() - started, 1), "returncode": returncode,
            "tail": tail}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--commands", nargs="+", default=list(COMMANDS), choices=COMMANDS)
    p.add_argument("--out", type=pathlib.Path, default=provenance.RESULTS)
    p.add_argument("--keep", action="store_true", help="keep the clone (default: removed at the end)")
    p.add_argument("--cold", action="store_true",
                   help="first remove the project's images and Docker's build cache (all is built again)")
    args = p.parse_args(argv)

    if args.cold:
        forget_images()
    run = provenance.Run("fresh_clone_cold" if args.cold else "fresh_clone", vars(args), argv, script="fresh_clone")
    parent = pathlib.Path(tempfile.mkdtemp(prefix="fresh-clone-"))
    clone = parent / "clone"
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    try:
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)], check=True)
        assert sorted(p.name for p in parent.iterdir()) == ["clone"], "the clone must stand alone"
        before = machine_state()
        steps = [run_command(command, clone, env) for command in args.commands]
    finally:
        if not args.keep:
            # The images and containers it made are the machine's; its files (venvs too) go.
            shutil.rmtree(parent, ignore_errors=True)
    summary = {"ok": all(step["returncode"] == 0 for step in steps),
               "seconds": {step["command"]: step["seconds"] for step in steps}}
    path = run.finish({"machine_before": before, "steps": steps}, summary, out=args.out)
    print("wrote %s" % path)
    for step in steps:
        print("%-18s exit %d in %.0f s" % (step["command"], step["returncode"], step["seconds"]))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

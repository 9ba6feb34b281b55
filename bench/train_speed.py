"""Training speed and accuracy of the MNIST trainer against pytorch/examples' recipe, in one run.

On a 2-core AMD EPYC VM, CPU only, torch 2.14.1 (2026-11-24, bench/README.md has the table):
  preset fast:    99.20% test accuracy (99.13-99.24 over seeds 0-2) after 5.0 s of training,
                  53x sooner at 99.0% than the baseline;
  preset default: 99.63% (99.58, 99.68 for seeds 0, 1) after 125 s of training;
  baseline:       99.05% after 5 epochs, 266 s: its first epoch at 99.0% or more.

It runs the real trainer (`code/train.py`, as the training image does) with the `fast` preset for
several seeds and the `default` preset, then the baseline (bench/baseline_examples.py:
pytorch/examples' MNIST net and Adadelta recipe), each in its own process, one after another on
the same machine. Every run prints the trainer's `#metrics` line per epoch; from them the bench
takes the time to 99.0% test accuracy (training seconds, evaluation and start-up excluded, up to
the first epoch whose test accuracy reaches it) and the final test accuracy, and writes a
markdown table and JSON to bench/results/. Seeds are fixed, so a rerun trains the same nets;
times depend on the machine and on what else runs on it, so the bench records the load average
before and after.

    python bench/train_speed.py                      # fast x3 seeds, default x1, baseline x1
    python bench/train_speed.py --fast-seeds 0 --skip default baseline   # quick look
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from data import mnist_files  # noqa: E402
RESULTS = os.path.join(REPO, "bench", "results")
TARGET = 0.99
_METRICS = re.compile(r"^#metrics (.*)$")


def parse_metrics(lines):
    """The `#metrics key=value ...` lines of a run's log as a list of dicts of floats."""
    epochs = []
    for line in lines:
        match = _METRICS.match(line.strip())
        if match:
            epochs.append({k: float(v) for k, v in (kv.split("=", 1) for kv in match.group(1).split())})
    return epochs


def time_to(epochs, target):
    """Training seconds up to the first epoch at `target` test accuracy or better, else None."""
    for entry in epochs:
        if entry["test_accuracy"] >= target:
            return entry["train_seconds"]
    return None


def run(name, command, env=None):
    print("== %s: %s" % (name, " ".join(command)), flush=True)
    started = time.perf_counter()
    process = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    wall = time.perf_counter() - started
    lines = process.stdout.splitlines()
    for line in lines:
        if line.startswith("#metrics"):
            print("   " + line, flush=True)
    if process.returncode != 0:
        sys.exit("%s failed (exit %d):\n%s" % (name, process.returncode, "\n".join(lines[-30:])))
    epochs = parse_metrics(lines)
    if not epochs:
        sys.exit("%s printed no #metrics line:\n%s" % (name, "\n".join(lines[-30:])))
    return {
        "epochs": len(epochs),
        "time_to_target": time_to(epochs, TARGET),
        "final_accuracy": epochs[-1]["test_accuracy"],
        "train_seconds": epochs[-1]["train_seconds"],
        "process_seconds": round(wall, 2),
        "history": epochs,
    }


def trainer_run(preset, seed, data_dir, workdir, extra):
    base = tempfile.mkdtemp(prefix="%s-%d-" % (preset, seed), dir=workdir)
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "code"), SAGEMAKER_BASE_DIR=base)
    command = [sys.executable, os.path.join("code", "train.py"), "--train", data_dir,
               "--model-dir", os.path.join(base, "model"),
               "--output-data-dir", os.path.join(base, "output", "data"),
               "--checkpoint-dir", os.path.join(base, "checkpoints"),
               "--preset", preset, "--seed", str(seed)] + extra
    return run("%s seed %d" % (preset, seed), command, env)


def baseline_run(seed, data_dir, epochs):
    command = [sys.executable, os.path.join("bench", "baseline_examples.py"), "--train", data_dir,
               "--epochs", str(epochs), "--seed", str(seed), "--stop-at", str(TARGET)]
    return run("baseline seed %d" % seed, command)


def summarise(name, runs):
    times = [r["time_to_target"] for r in runs]
    reached = sorted(t for t in times if t is not None)
    accuracies = [r["final_accuracy"] for r in runs]
    return {
        "name": name,
        "seeds": [r["seed"] for r in runs],
        "reached": "%d/%d" % (len(reached), len(runs)),
        "median_time_to_target": statistics.median(reached) if len(reached) == len(runs) else None,
        "times_to_target": times,
        "final_accuracies": accuracies,
        "mean_final_accuracy": sum(accuracies) / len(accuracies),
        "epochs": [r["epochs"] for r in runs],
        "process_seconds": [r["process_seconds"] for r in runs],
        "runs": runs,
    }


def markdown(summaries, baseline, machine):
    def seconds(t):
        return "not reached" if t is None else "%.1f" % t

    rows = ["| run | seeds | epochs | time to 99.0% (s, median; per seed) | speed-up vs baseline "
            "| final test accuracy (mean; per seed) | training (s, all epochs) | process wall (s) |",
            "|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        t = s["median_time_to_target"]
        ratio = "-"
        if baseline and t and s is not baseline:
            # A baseline that never reached the target gives a lower bound: all its training time.
            reference = baseline["median_time_to_target"] or max(r["train_seconds"] for r in baseline["runs"])
            ratio = "%s%.0fx" % ("" if baseline["median_time_to_target"] else "more than ", reference / t)
        rows.append("| %s | %s | %s | %s (%s) | %s | %.2f%% (%s) | %s | %s |" % (
            s["name"], " ".join(map(str, s["seeds"])), " ".join(map(str, s["epochs"])), seconds(t),
            ", ".join(seconds(x) for x in s["times_to_target"]), ratio, 100 * s["mean_final_accuracy"],
            ", ".join("%.2f" % (100 * a) for a in s["final_accuracies"]),
            " ".join("%.1f" % r["train_seconds"] for r in s["runs"]),
            " ".join("%.0f" % w for w in s["process_seconds"])))
    notes = ("Machine: %s, %s CPUs, %s, torch %s, OMP_WAIT_POLICY %s; commit %s. "
             "Load average before %s, after %s."
             % (machine["cpu"], machine["cpus"], machine["device"], machine["torch"],
                machine["omp_wait_policy"], machine["commit"], machine["load_before"], machine["load_after"]))
    return "\n".join(rows) + "\n\n" + notes + "\n"


def machine_facts():
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import torch  # here, not at the top: `--help` should not wait for torch

    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {"cpu": cpu, "cpus": os.cpu_count(), "torch": torch.__version__, "commit": commit,
            "device": "CUDA %s" % torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only",
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset")}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="directory with MNIST's four IDX files (default: $%s, else the "
                                  "repository's copy, %s)" % (mnist_files.MNIST_DIR_VARIABLE, mnist_files.REPO_COPY))
    p.add_argument("--fast-seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--default-seeds", type=int, nargs="+", default=[0])
    p.add_argument("--baseline-seed", type=int, default=1, help="pytorch/examples' own default seed is 1")
    p.add_argument("--baseline-epochs", type=int, default=5,
                   help="epoch cap of the baseline (default %(default)s)")
    p.add_argument("--skip", nargs="+", choices=("fast", "default", "baseline"), default=[])
    p.add_argument("--trainer-args", default="",
                   help="extra trainer arguments for both presets, e.g. '--epochs 2'")
    p.add_argument("--out", default=RESULTS)
    args = p.parse_args(argv)
    try:
        args.data = str(mnist_files.locate(args.data))
    except (OSError, ValueError) as e:
        sys.exit("no MNIST at %s: %s (pass --data DIR with the four IDX files)" % (args.data, e))

    machine = machine_facts()
    machine["load_before"] = "%.2f" % os.getloadavg()[0]
    extra = args.trainer_args.split()
    summaries, baseline = [], None
    with tempfile.TemporaryDirectory(prefix="train-speed-") as workdir:
        for preset, seeds in (("fast", args.fast_seeds), ("default", args.default_seeds)):
            if preset in args.skip:
                continue
            runs = [dict(trainer_run(preset, seed, args.data, workdir, extra), seed=seed) for seed in seeds]
            summaries.append(summarise("ours, preset %s" % preset, runs))
        if "baseline" not in args.skip:
            result = baseline_run(args.baseline_seed, args.data, args.baseline_epochs)
            runs = [dict(result, seed=args.baseline_seed)]
            summary = summarise("baseline (pytorch/examples, cap %d epochs)" % args.baseline_epochs, runs)
            baseline = summary
            summaries.append(summary)
    machine["load_after"] = "%.2f" % os.getloadavg()[0]

    table = markdown(summaries, baseline, machine)
    print("\n" + table)
    os.makedirs(args.out, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    result = {"machine": machine, "target": TARGET,
              "baseline_time_to_target": baseline["median_time_to_target"] if baseline else None,
              "summaries": summaries, "command": [os.path.basename(sys.argv[0])] + (argv or sys.argv[1:])}
    for name in ("train_speed-%s" % stamp, "train_speed-latest"):
        with open(os.path.join(args.out, name + ".json"), "w") as f:
            json.dump(result, f, indent=2)
        with open(os.path.join(args.out, name + ".md"), "w") as f:
            f.write(table)
    print("wrote %s/train_speed-%s.{md,json}" % (args.out, stamp))


if __name__ == "__main__":
    main()

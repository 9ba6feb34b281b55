"""Training speed and accuracy of the MNIST trainer against pytorch/examples' recipe, in one run.

It runs the real trainer (`code/train.py`, as the training image does) with the `fast` preset for
several seeds and the `default` preset, then the baseline (bench/baseline_examples.py:
pytorch/examples' MNIST net and Adadelta recipe), each in its own process, one after another on
the same machine. Every run prints the trainer's `#metrics` line per epoch; from them the bench
takes the time to 99.0% test accuracy (training seconds, evaluation and start-up excluded, up to
the first epoch whose test accuracy reaches it) and the final test accuracy, and writes
bench/results/train_speed.json (bench/provenance.py: the commit, machine, load average before and
after, every epoch of every run, the summary and its table). Seeds are fixed, so a rerun trains
the same nets; times depend on the machine and on what else runs on it. The results of the
committed run: the tables in README.md and bench/README.md (bench/publish.py writes them).

With --baseline-tree DIR (a checkout of an earlier commit, bench/baseline_tree.py) it also runs that
tree's own trainer (its code/train.py, its code/ alone on the path) with the same presets, seeds
and data, each seed's two runs back to back (the first alternating by seed), and reports per
preset this tree's time to 99.0% over that tree's and the difference in final accuracy.

    python bench/train_speed.py                      # fast x3 seeds, default x1, baseline x1
    python bench/train_speed.py --fast-seeds 0 --skip default baseline --out /tmp/bench   # quick look
    python bench/train_speed.py --baseline-tree /tmp/wt-666cce5   # and 666cce5's trainer beside each run
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import provenance
from baseline_tree import Tree

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from data import mnist_files  # noqa: E402
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


def run(name, command, env=None, cwd=REPO):
    print("== %s: %s" % (name, " ".join(command)), flush=True)
    started = time.perf_counter()
    process = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
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


def trainer_command(base, arguments):
    """code/train.py with `arguments`, its model, output and checkpoint folders under `base`."""
    return [sys.executable, os.path.join("code", "train.py"), "--model-dir", os.path.join(base, "model"),
            "--output-data-dir", os.path.join(base, "output", "data"),
            "--checkpoint-dir", os.path.join(base, "checkpoints")] + arguments


def trainer_env(base):
    """The environment this tree's trainer runs in, with `base` as its SAGEMAKER_BASE_DIR."""
    return dict(os.environ, PYTHONPATH=os.path.join(REPO, "code"), SAGEMAKER_BASE_DIR=base)


def trainer_run(preset, seed, data_dir, workdir, extra, tree=None):
    """The trainer of this tree, or of an earlier commit's `tree` (its code/train.py, its code/ alone
    on the path), on the same data with the same preset and seed."""
    base = tempfile.mkdtemp(prefix="%s-%s-%d-" % (tree.name if tree else "ours", preset, seed), dir=workdir)
    env = dict(tree.environment("code") if tree else trainer_env(base), SAGEMAKER_BASE_DIR=base)
    command = trainer_command(base, ["--train", data_dir, "--preset", preset, "--seed", str(seed)] + extra)
    name = "%s%s seed %d" % ("%s, " % tree.name if tree else "", preset, seed)
    return run(name, command, env, cwd=tree.path if tree else REPO)


def preset_runs(preset, seeds, data_dir, workdir, extra, tree=None):
    """Each seed's run of this tree's trainer ("ours") and, with `tree`, of that tree's, back to back,
    the first alternating by seed, so that the machine's drift falls on both alike."""
    trees = [None] + ([tree] if tree else [])
    runs = {t: [] for t in trees}
    for i, seed in enumerate(seeds):
        for t in trees[i % len(trees):] + trees[:i % len(trees)]:
            runs[t].append(dict(trainer_run(preset, seed, data_dir, workdir, extra, t), seed=seed))
    return runs


def baseline_run(seed, data_dir, epochs):
    command = [sys.executable, os.path.join("bench", "baseline_examples.py"), "--train", data_dir,
               "--epochs", str(epochs), "--seed", str(seed), "--stop-at", str(TARGET)]
    return run("baseline seed %d" % seed, command)


def summarise(name, kind, runs, epoch_cap=None):
    times = [r["time_to_target"] for r in runs]
    reached = sorted(t for t in times if t is not None)
    accuracies = [r["final_accuracy"] for r in runs]
    summary = {
        "name": name,
        "kind": kind,
        "seeds": [r["seed"] for r in runs],
        "reached": "%d/%d" % (len(reached), len(runs)),
        "median_time_to_target": statistics.median(reached) if len(reached) == len(runs) else None,
        "times_to_target": times,
        "final_accuracies": accuracies,
        "mean_final_accuracy": sum(accuracies) / len(accuracies),
        "epochs": [r["epochs"] for r in runs],
        "train_seconds": [r["train_seconds"] for r in runs],
        "process_seconds": [r["process_seconds"] for r in runs],
    }
    if epoch_cap is not None:
        summary["epoch_cap"] = epoch_cap
    return summary


def versus(ours, other):
    """This tree's runs of a preset against an earlier tree's, seed by seed: time to the target
    (ours/other: below 1 is faster) and final accuracy (ours minus other)."""
    paired = [a / b if a and b else None for a, b in zip(ours["times_to_target"], other["times_to_target"])]
    times = ours["median_time_to_target"], other["median_time_to_target"]
    return {"time_to_target": {"ratio": times[0] / times[1] if all(times) else None, "per_seed": paired},
            "final_accuracy": {"difference": ours["mean_final_accuracy"] - other["mean_final_accuracy"],
                               "per_seed": [a - b for a, b in zip(ours["final_accuracies"],
                                                                  other["final_accuracies"])]}}


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
    p.add_argument("--baseline-tree", metavar="DIR",
                   help="also run the trainer of this checkout of an earlier commit (its code/train.py) with "
                        "the same presets and seeds, interleaved, e.g. one made by "
                        "`git worktree add --detach /tmp/wt-666cce5 666cce5`")
    p.add_argument("--trainer-args", default="",
                   help="extra trainer arguments for both presets, e.g. '--epochs 2'")
    p.add_argument("--out", default=provenance.RESULTS,
                   help="folder for train_speed.json (default: bench/results, the committed result)")
    args = p.parse_args(argv)
    try:
        data = str(mnist_files.locate(args.data))
    except (OSError, ValueError) as e:
        sys.exit("no MNIST at %s: %s (pass --data DIR with the four IDX files)" % (args.data, e))

    argv, arguments = sys.argv[1:] if argv is None else list(argv), vars(args)
    tree = Tree(args.baseline_tree) if args.baseline_tree else None
    if tree:
        print("baseline tree: %s" % tree.described(), flush=True)
        argv, arguments = tree.redacted(argv, arguments)
    run_record = provenance.Run("train_speed", arguments, argv, with_torch=True)
    args.data = data
    extra = args.trainer_args.split()
    groups, summaries, against_tree = [], [], {}
    with tempfile.TemporaryDirectory(prefix="train-speed-") as workdir:
        for preset, seeds in (("fast", args.fast_seeds), ("default", args.default_seeds)):
            if preset in args.skip:
                continue
            runs = preset_runs(preset, seeds, args.data, workdir, extra, tree)
            for t, group_runs in runs.items():
                name = "%s, preset %s" % (t.name if t else "ours", preset)
                label = {"tree": t.name} if t else {}  # which tree's trainer: none, this one
                groups.append({"name": name, "kind": preset, "runs": group_runs, **label})
                summaries.append({**summarise(name, preset, group_runs), **label})
            if tree:
                against_tree[preset] = versus(summaries[-2], summaries[-1])
        if "baseline" not in args.skip:
            result = baseline_run(args.baseline_seed, args.data, args.baseline_epochs)
            runs = [dict(result, seed=args.baseline_seed)]
            name = "baseline (pytorch/examples, cap %d epochs)" % args.baseline_epochs
            groups.append({"name": name, "kind": "baseline", "runs": runs})
            summaries.append(summarise(name, "baseline", runs, epoch_cap=args.baseline_epochs))

    baseline = next((s for s in summaries if s["kind"] == "baseline"), None)
    summary = {"groups": summaries,
               "baseline_time_to_target": baseline["median_time_to_target"] if baseline else None}
    data = {"target": TARGET, "groups": groups}
    if tree:
        summary["baseline_tree"] = {"name": tree.name, "sha": tree.sha, "presets": against_tree}
        data["baseline_tree"] = tree.record()
    path = run_record.finish(data, summary, args.out)
    print("\n" + run_record.record["table"])
    print("wrote %s" % path)


if __name__ == "__main__":
    main()

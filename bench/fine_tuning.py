"""Fine-tuning on 500 digits of a style MNIST lacks: accuracy on that style and on MNIST before and
after, and the time it takes, for each share of MNIST mixed in.

The model fine-tuned is the image's default preset trained here on MNIST (--base-seed; or
--base-model DIR, a model directory of an earlier run). The style is a seven-segment display
(data.seven_segment: meter readings, LED and LCD, slanted or not): --train-digits pictures of it
to fine-tune on, and --held-out others, drawn from another seed, to score. Each fine-tuning is
the real trainer (code/train.py) as a job with a `model` channel runs it: the fine-tune preset,
the pictures as a folder-per-class training channel, MNIST's training files as the `mnist`
channel at each --mnist-shares value, for each --seeds seed. Every model, the one it started from
included, is scored as the image serves it (sagemaker_mnist.inference's model_fn and predict_fn,
each picture prepared by images.decode) on the held-out pictures, on MNIST's 10,000 test digits
and on printed digits of font families no run trained on (bench/printed_digits.py's), to show
what fine-tuning keeps of what the model knew.

    python bench/fine_tuning.py                                  # about 5 minutes on 2 cores
    python bench/fine_tuning.py --mnist-shares 0.9 --seeds 0 --base-model /tmp/m --out /tmp/ft
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile

import numpy as np

import printed_digits
import provenance
import train_speed

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "code"))

from data import mnist_files, seven_segment  # noqa: E402
from sagemaker_mnist import images, mnist_mix, printed  # noqa: E402

TRAIN_SEED = 1
HELD_OUT_SEED = 2
PRINTED_SEED = 20260
MNIST_SHARES = (0.0, 0.5, 0.9)


def train(name, workdir, arguments):
    """One run of code/train.py in its own SAGEMAKER_BASE_DIR; (the run's result, its model dir)."""
    base = tempfile.mkdtemp(prefix="%s-" % name.replace(" ", "-"), dir=workdir)
    result = train_speed.run(name, train_speed.trainer_command(base, arguments), train_speed.trainer_env(base))
    return result, os.path.join(base, "model")


def pictures(per_digit, seed):
    """(uint8 N x 28 x 28 as serving prepares them, labels) of seven-segment PNG pictures."""
    pairs = seven_segment.samples(per_digit, seed)
    prepared = np.stack([images.decode(body) for _, body in pairs])
    return (prepared * 255).round().astype(np.uint8), np.array([label for label, _ in pairs])


def accuracy(model_dir, split):
    answers = printed_digits.serve(model_dir, split[0])
    return float((answers[:, :10].argmax(1) == split[1]).mean())


def scores(model_dir, tests):
    return {name: accuracy(model_dir, split) for name, split in tests.items()}


def _median(values):
    return statistics.median(values) if values else None


def summarise(before, runs, shares):
    groups = []
    for share in shares:
        mine = [r for r in runs if r["mnist_share"] == share]
        groups.append({
            "mnist_share": share, "seeds": [r["seed"] for r in mine],
            "after": {name: _median([r["scores"][name] for r in mine]) for name in before},
            "after_per_seed": {name: [r["scores"][name] for r in mine] for name in before},
            "train_seconds": _median([r["train_seconds"] for r in mine]),
            "process_seconds": _median([r["process_seconds"] for r in mine]),
            "training_digits": mine[0]["training_digits"] if mine else None,
        })
    return groups


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="directory with MNIST's four IDX files (default: the repository's copy)")
    p.add_argument("--base-model", help="the model to fine-tune (a model directory); default: train the "
                                        "default preset here")
    p.add_argument("--base-seed", type=int, default=0)
    p.add_argument("--train-digits", type=int, default=500, help="pictures to fine-tune on (default %(default)s)")
    p.add_argument("--held-out", type=int, default=2000, help="pictures to score (default %(default)s)")
    p.add_argument("--held-out-printed", type=int, default=1000)
    p.add_argument("--mnist-shares", type=float, nargs="+", default=list(MNIST_SHARES))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", default=provenance.RESULTS)
    args = p.parse_args(argv)
    data = str(mnist_files.locate(args.data))
    run_record = provenance.Run("fine_tuning", vars(args), sys.argv[1:] if argv is None else list(argv),
                                with_torch=True)
    printed_digits.install_fonts()
    tests = {
        "style": pictures(args.held_out // 10, HELD_OUT_SEED),
        "mnist": mnist_files.test_split(data),
        "printed": printed.render(printed_digits.held_out_fonts(), args.held_out_printed, seed=PRINTED_SEED),
    }
    runs = []
    with tempfile.TemporaryDirectory(prefix="fine-tuning-") as workdir:
        base = {"given": args.base_model}
        base_model = args.base_model
        if not base_model:
            result, base_model = train("base: default preset seed %d" % args.base_seed, workdir,
                                       ["--train", data, "--preset", "default", "--seed", str(args.base_seed)])
            base = {"preset": "default", "seed": args.base_seed, "train_seconds": result["train_seconds"],
                    "process_seconds": result["process_seconds"], "epochs": result["epochs"]}
        base["scores"] = scores(base_model, tests)
        print("   before: %s" % base["scores"], flush=True)
        folder = seven_segment.write_folder(os.path.join(workdir, "digits"), args.train_digits // 10, TRAIN_SEED)
        for i, seed in enumerate(args.seeds):
            # Back to back per seed, the order turning with it, so the machine's drift falls on all.
            shares = args.mnist_shares[i % len(args.mnist_shares):] + args.mnist_shares[:i % len(args.mnist_shares)]
            for share in shares:
                result, model_dir = train(
                    "fine-tune seed %d, mnist-share %s" % (seed, share), workdir,
                    ["--train", str(folder), "--pretrained", base_model, "--mnist", data, "--test", data,
                     "--mnist-share", str(share), "--seed", str(seed)])
                run = {"seed": seed, "mnist_share": share, "scores": scores(model_dir, tests),
                       "training_digits": args.train_digits + mnist_mix.count(args.train_digits, share),
                       **{k: result[k] for k in ("train_seconds", "process_seconds", "epochs", "history")}}
                print("   after: %s" % run["scores"], flush=True)
                runs.append(run)
                shutil.rmtree(os.path.dirname(model_dir), ignore_errors=True)
    summary = {"before": base, "groups": summarise(base["scores"], runs, args.mnist_shares),
               "style": {"name": "seven-segment display", "train": args.train_digits, "held_out": args.held_out,
                         "train_seed": TRAIN_SEED, "held_out_seed": HELD_OUT_SEED},
               "printed": {"digits": args.held_out_printed, "packages": list(printed_digits.HELD_OUT_PACKAGES)}}
    path = run_record.finish({"runs": runs}, summary, args.out)
    print("\n" + run_record.record["table"])
    print("wrote %s" % path)


if __name__ == "__main__":
    main()

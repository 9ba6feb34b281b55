"""The CPU inference image against the CUDA one on a CPU machine, side by side in one run: the
same serving figures, from the images themselves.

    .venv/bin/python bench/image_serving.py [--cuda-image IMAGE] [--cpu-image IMAGE] [--rounds 8]
        [--seconds 5] [--warmup 60] [--width 16] [--out DIR]

Each image serves the same model (the default preset's width, trained here in a moment: weights do
not change speed) as SageMaker runs it: `docker run IMAGE serve`, the model at /opt/ml/model, its
port on 127.0.0.1 only, the image's own defaults (workers, JVM heap, batching). Both containers
run for the whole measurement; after a warm-up of each (--warmup seconds of load: the JVM compiles
MMS's request path as it runs it), each round measures every figure on both images back to back,
the first image alternating by round, so that the machine's drift falls on both alike:
  - single-image JSON requests at concurrency 1 and 8: throughput, p50 and p99 latency
  - MultiRecord CSV batches (1,000 images per request, 2 in flight): images per second
and, after the rounds, each container's memory (docker stats). Reported per figure: each image's
median round, their ratio and the median of the rounds' paired ratios (bench/serve_compare.py),
the CPU image first. Goal (issue 18): the CPU image's figures the same as the CUDA image's, within
TOLERANCE. The cold starts of both images are bench/cold_start.py's.

The load generator (bench/load.py) runs on the same cores as the containers.
"""
import argparse
import http.client
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "code"), str(REPO / "container")]

import provenance  # noqa: E402
import publish  # noqa: E402
import serve_compare  # noqa: E402
from cold_start import DOCKER, docker, image_facts, image_size, readable  # noqa: E402
from harness import bodies, small_model  # noqa: E402
from harness.digits import mnist  # noqa: E402
from harness.model_server import free_port  # noqa: E402
from sagemaker_mnist import artifacts, recipe  # noqa: E402
from serve_speed import BATCH_ROWS, load, percentile  # noqa: E402

CUDA_IMAGE = "mnist-pytorch-inference:latest"
CPU_IMAGE = "mnist-pytorch-inference-cpu:latest"
CUDA, CPU = "CUDA image", "CPU image"
# "The same figures": each paired median ratio within this of 1, the favourable way open.
TOLERANCE = 0.05


class Container:
    """One image serving the model on a port of 127.0.0.1, until stop()."""

    def __init__(self, image, model_dir):
        self.image, self.port = image, free_port()
        self.id = docker("run", "-d", "-p", "127.0.0.1:%d:8080" % self.port, "-v", "%s:/opt/ml/model:ro" % model_dir,
                         image, "serve").stdout.strip()
        self.url = "http://127.0.0.1:%d" % self.port

    def wait_answering(self, body, deadline_s=180):
        started = time.monotonic()
        while time.monotonic() - started < deadline_s:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("POST", "/invocations", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                answer = response.read()
                connection.close()
                if response.status == 200:
                    return json.loads(answer)
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.1)
        logs = subprocess.run([DOCKER, "logs", self.id], capture_output=True, text=True)
        sys.exit("%s did not answer within %d s:\n%s" % (self.image, deadline_s, (logs.stdout + logs.stderr)[-3000:]))

    def memory(self):
        """The container's memory use as docker stats reports it (e.g. '812.4MiB / 23.4GiB')."""
        return docker("stats", "--no-stream", "--format", "{{.MemUsage}}", self.id).stdout.strip()

    def stop(self):
        subprocess.run([DOCKER, "rm", "-f", self.id], capture_output=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cuda-image", default=CUDA_IMAGE)
    p.add_argument("--cpu-image", default=CPU_IMAGE)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--seconds", type=float, default=5.0, help="measuring time per figure and round")
    p.add_argument("--warmup", type=float, default=60.0, help="seconds of load per container before the rounds")
    p.add_argument("--width", type=int, default=recipe.PRESETS["default"]["width"])
    p.add_argument("--out", default=provenance.RESULTS)
    args = p.parse_args(argv)
    version = docker("version", "--format", "{{.Server.Version}}").stdout.strip()
    run_record = provenance.Run("image_serving", vars(args), argv, with_torch=True, docker=version)

    workdir = pathlib.Path(tempfile.mkdtemp(prefix="image-serving-"))
    net, config = small_model.train_small_model(width=args.width, n_train=4096)
    model_dir = workdir / "model"
    artifacts.write(str(model_dir), net, config)
    readable(workdir)
    images, labels = mnist("t10k")
    single = bodies.json_body(images[0]).encode()
    batch = bodies.csv_body(images[:BATCH_ROWS]).encode()
    names = {CUDA: args.cuda_image, CPU: args.cpu_image}
    containers = {}
    cells, rounds, memory = {}, [], {}
    try:
        for name, image in names.items():
            containers[name] = Container(image, model_dir)
        answers = {name: c.wait_answering(bodies.json_body(images[:100]).encode()) for name, c in containers.items()}
        # Both images must give the same answers before anything is timed.
        predicted = {name: [p["label"] for p in a["predictions"]] for name, a in answers.items()}
        if predicted[CUDA] != predicted[CPU]:
            sys.exit("the images answer differently: %s" % predicted)
        print("both images answer alike; accuracy on 100 test digits %.2f"
              % (sum(int(a) == int(b) for a, b in zip(predicted[CPU], labels[:100])) / 100), flush=True)
        for name, c in containers.items():
            load(c.url, single, "application/json", "application/json", 8, args.warmup, warmup=0)
            load(c.url, batch, "text/csv", "text/csv", 2, args.warmup / 4, warmup=0)
        order = [CPU, CUDA]
        for round_ in range(args.rounds):
            this = order[round_ % 2:] + order[:round_ % 2]
            raw = {"order": this, "cells": {}}
            for cell in ("c1", "c8", "batch"):
                for name in this:
                    url = containers[name].url
                    if cell == "batch":
                        rate, latencies = load(url, batch, "text/csv", "text/csv", 2, args.seconds)
                        value = (rate * BATCH_ROWS, 0, 0)
                    else:
                        rate, latencies = load(url, single, "application/json", "application/json",
                                               int(cell[1:]), args.seconds)
                        value = (rate, percentile(latencies, 50), percentile(latencies, 99))
                    cells.setdefault((name, cell), []).append(value)
                    raw["cells"].setdefault(cell, {})[name] = dict(zip(("rate", "p50_ms", "p99_ms"), value),
                                                                   requests=len(latencies))
            rounds.append(raw)
            print("round %d done" % (round_ + 1), flush=True)
        memory = {name: c.memory() for name, c in containers.items()}
    finally:
        for c in containers.values():
            c.stop()

    comparison = serve_compare.compare(cells, {}, CPU, CUDA, "baseline")
    summary = {"comparison": comparison, "memory": memory, "tolerance": TOLERANCE,
               "same_figures": all(publish.figure_within(f, TOLERANCE) for f in comparison["figures"]),
               "images": {name: dict(image_facts(image), size_bytes=image_size(image)) for name, image in names.items()}}
    data = {"width": args.width, "cores": os.cpu_count(), "batch_rows": BATCH_ROWS, "batch_bytes": len(batch),
            "seconds_per_figure": args.seconds, "warmup_s": args.warmup, "rounds": rounds}
    path = run_record.finish(data, summary, args.out)
    print("\n" + run_record.record["table"])
    print("wrote %s" % path)


if __name__ == "__main__":
    main()

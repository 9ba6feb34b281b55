"""Serving speed of the inference image's path against the stock path, side by side in one run.

    .venv/bin/python bench/serve_speed.py [--width 32] [--seconds 5] [--rounds 5] [--warmup 90] [--out DIR]
        [--without-worker-affinity] [--baseline-tree DIR [--baseline-image IMAGE]]

All paths (bench/serve_paths.py) run the same multi-model-server (the host's Java 17), the same
weights and the same number of workers:
  ours   as this image's serve starts it: sagemaker_mnist_container.handler_service +
         sagemaker_mnist.inference, MMS through sagemaker_mnist_container.launcher (its logging
         config) with the plugin agent's worker affinity and batches of the requests already
         waiting (up to 8), backends forked from the preloader
  stock  sagemaker-inference's default handler service and decoders/encoders, with a model_fn and
         predict_fn as a typical bring-your-own-container user writes them (STOCK_INFERENCE),
         MMS with the toolkit's config, MMS's own worker order (no worker affinity) and its batch
         size of 1
and, when asked for:
  ours, no affinity   (--without-worker-affinity) ours with -Dmnist.worker_affinity=false
  666cce5             (--baseline-tree DIR, named by the tree's commit) that commit's own serving
                      code, plugin and host server runner, as its own bench ran "ours", in a
                      process whose Python path is that tree alone (bench/baseline_server.py)
After a warm-up of every server (--warmup seconds of load each: the JVM's C2 compiler needs a
while under load to finish with MMS's request path), measured in rounds, each measurement on every
path back to back (the first path rotating by round), so that background load and the machine's
drift fall on all alike; reported: the median of the rounds for each path, ours/stock and their
paired ratio (the median of the rounds' ratios), and the same per figure for ours against each
path asked for (bench/serve_compare.py):
  - single-image JSON requests at concurrency 1 and 8: throughput, p50 and p99 latency
  - MultiRecord CSV batches (as batch transform sends them, BATCH_ROWS images per request,
    2 requests in flight): images per second
  - for ours and stock, each as a fraction of its limit: the same handler's decode-predict-encode
    rate in this process with no server (one core per worker: x1 at concurrency 1, x workers
    otherwise)
  - cold start of the real image (bench/cold_start.py: docker run to a healthy /ping, and to the
    first answer), ours and the stock handler started by sagemaker-inference's start_model_server
    in the same image, and with --baseline-image that image serving the tree's artifact
The load generator (bench/load.py: one thread, raw keep-alive sockets) runs on the same cores as
the servers; its cost counts against every path.

It writes bench/results/serve_speed.json (bench/provenance.py: the commit, machine, load average
before and after, every round's numbers on every path, every cold start, the baseline tree's
commit and image, the summary and its table); bench/publish.py puts the tables in README.md and
bench/serve_speed.md.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "code"), str(REPO / "container")]

import numpy as np  # noqa: E402
import requests  # noqa: E402
import torch  # noqa: E402

import load as client  # noqa: E402
import provenance  # noqa: E402
import serve_compare  # noqa: E402
import serve_paths  # noqa: E402
from baseline_tree import Tree  # noqa: E402
from cold_start import cold_start, image_facts, readable  # noqa: E402
from harness import bodies  # noqa: E402
from harness.digits import mnist  # noqa: E402
from sagemaker_mnist import recipe  # noqa: E402
from sagemaker_mnist_container import plugin  # noqa: E402
from sagemaker_mnist_container.settings import default_workers  # noqa: E402
from serve_paths import OURS_HANDLER  # noqa: E402

BATCH_ROWS = 1000
SERVE_IMAGE = os.environ.get("SERVE_IMAGE", "mnist-pytorch-inference:latest")


# --- Load generation

def load(url, body, content_type, accept, concurrency, seconds, warmup=1.0):
    """Keeps `concurrency` requests in flight for `seconds` after a warm-up (bench/load.py);
    returns (requests/s, latencies in s) of the requests answered within the measured window."""
    host, port = url.split("//")[1].split(":")
    request = client.request_bytes(host, int(port), "/invocations", body, content_type, accept)
    return client.run(host, int(port), request, concurrency, seconds, warmup)


def percentile(values, q):
    return float(np.percentile(np.asarray(values) * 1000, q))


# --- In-process limits

def in_process_rate(model_dir, handler, body, content_type, accept, seconds):
    """Requests/s of the handler alone, one thread, as an MMS worker calls it."""
    from mms.context import Context, RequestProcessor

    torch.set_num_threads(1)
    context = Context("model", str(model_dir), None, 1, None, "1.1.11")
    code = str(model_dir / "code")
    sys.path.insert(0, code)
    sys.modules.pop("inference", None)
    try:
        if handler == OURS_HANDLER:
            from sagemaker_mnist_container.handler_service import HandlerService
            service = HandlerService()
        else:
            from sagemaker_inference.default_handler_service import DefaultHandlerService
            service = DefaultHandlerService()
        service.initialize(context)
        data = [{"body": bytearray(body)}]
        headers = {"Content-Type": content_type, "Accept": accept, "body": {"content-type": content_type}}

        def once():
            context.request_processor = [RequestProcessor(headers)]
            service.handle(data, context)
            assert context.request_processor[0].get_response_status_code() == 200

        for _ in range(5):
            once()
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            once()
            count += 1
        return count / (time.perf_counter() - start)
    finally:
        sys.path.remove(code)
        sys.modules.pop("inference", None)


# --- The run

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=recipe.PRESETS["default"]["width"],
                        help="MnistNet width (default: the trainer's default preset, %(default)s)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per cell and round")
    parser.add_argument("--rounds", type=int, default=5)
    # The JVM's C2 compiler works on MMS's request path for about a minute under load: the JVM's
    # CPU per request at concurrency 1 fell from 1.2 to 0.6 ms over the first 75 s, and a server
    # then keeps that rate. 90 s of warm-up puts every round in that steady state.
    parser.add_argument("--warmup", type=float, default=90.0, help="seconds of load per server before the rounds")
    parser.add_argument("--cold-starts", type=int, default=3, help="docker runs per path (0: skip)")
    parser.add_argument("--without-worker-affinity", action="store_true",
                        help="also measure ours with -Dmnist.worker_affinity=false (the path '%s')"
                        % serve_paths.NO_AFFINITY)
    parser.add_argument("--baseline-tree", metavar="DIR",
                        help="also measure the serving code of this checkout of an earlier commit (one from "
                             "before the rename of 37af577), e.g. one made by "
                             "`git worktree add --detach /tmp/wt-666cce5 666cce5`")
    parser.add_argument("--baseline-image", metavar="IMAGE",
                        help="the inference image built from --baseline-tree, for its cold starts "
                             "(bench/README.md says how to build it)")
    parser.add_argument("--out", default=provenance.RESULTS,
                        help="folder for serve_speed.json (default: bench/results, the committed result)")
    args = parser.parse_args()
    if args.baseline_image and not args.baseline_tree:
        parser.error("--baseline-image goes with --baseline-tree")
    argv, arguments = sys.argv[1:], vars(args)
    tree = Tree(args.baseline_tree) if args.baseline_tree else None
    if tree:
        print("baseline tree: %s" % tree.described(), flush=True)
        argv, arguments = tree.redacted(argv, arguments)
    run_record = provenance.Run("serve_speed", arguments, argv, with_torch=True, java=java_version())

    workdir = pathlib.Path(tempfile.mkdtemp(prefix="serve-speed-"))
    images, labels = mnist("t10k")
    single = bodies.json_body(images[0]).encode()
    batch = bodies.csv_body(images[:BATCH_ROWS]).encode()
    models = serve_paths.make_models(workdir, args.width)
    jar = plugin.build(workdir / "plugin.jar")
    workers = default_workers()
    print("model width %d, %d workers per server, %d cores; %d-image CSV batches (%.1f MB)"
          % (args.width, workers, os.cpu_count(), BATCH_ROWS, len(batch) / 2**20), flush=True)

    cells = {}  # (path, measurement) -> list over rounds
    limits = {}  # (path, "single" or "batch") -> list over rounds
    rounds = []  # every round's numbers, every path, in the order measured: the result's raw data
    paths = serve_paths.paths(workdir, models, jar, SERVE_IMAGE, args.without_worker_affinity, tree,
                              args.baseline_image)
    try:
        for path in paths:
            path.server.start()
        for path in paths:
            path.server.wait_healthy()
            path.server.wait_until(lambda s=path.server: _answers(s.url, single), 120, "a first answer")
        # All answer alike on real digits before anything is timed.
        for path in paths:
            response = _post(path.server.url, bodies.json_body(images[:100]).encode())
            response.raise_for_status()
            predicted = _labels(path.answers, response.content)
            print("%-17s accuracy on 100 test digits: %.2f" % (path.name, (predicted == labels[:100]).mean()),
                  flush=True)

        # The JVM compiles MMS's request path as it runs it (see --warmup): rounds measured cold
        # rose by 1.5-2x from the first to the third. Every server is warmed alike.
        for path in paths:
            load(path.server.url, single, "application/json", "application/json", 8, args.warmup, warmup=0)
            load(path.server.url, batch, "text/csv", "text/csv", 2, args.warmup / 4, warmup=0)
        for round_ in range(args.rounds):
            # Each measurement on every path back to back, the first path rotating by round:
            # the measurements are seconds apart, so the machine's drift falls on all (see report).
            first = round_ % len(paths)
            order = paths[first:] + paths[:first]
            raw = {"first": order[0].name, "order": [path.name for path in order], "cells": {}, "limits": {}}
            for measurement in ("c1", "c8", "batch"):
                for path in order:
                    name, url = path.name, path.server.url
                    if measurement == "batch":
                        rate, latencies = load(url, batch, "text/csv", "text/csv", 2, args.seconds)
                        cells.setdefault((name, "batch"), []).append((rate * BATCH_ROWS, 0, 0))
                        raw["cells"].setdefault("batch", {})[name] = {"rate": rate * BATCH_ROWS,
                                                                      "requests": len(latencies)}
                        continue
                    rate, latencies = load(url, single, "application/json", "application/json",
                                           int(measurement[1:]), args.seconds)
                    cells.setdefault((name, measurement), []).append(
                        (rate, percentile(latencies, 50), percentile(latencies, 99)))
                    raw["cells"].setdefault(measurement, {})[name] = dict(
                        zip(("rate", "p50_ms", "p99_ms"), cells[(name, measurement)][-1]), requests=len(latencies))
            # The limits, measured in the same round: the handler alone, in this process.
            for path in paths:
                if path.limit is None:
                    continue
                name, (model_dir, handler) = path.name, path.limit
                limits.setdefault((name, "single"), []).append(in_process_rate(
                    model_dir, handler, single, "application/json", "application/json", args.seconds))
                limits.setdefault((name, "batch"), []).append(BATCH_ROWS * in_process_rate(
                    model_dir, handler, batch, "text/csv", "text/csv", args.seconds))
                raw["limits"][name] = {"single_req_s": limits[(name, "single")][-1],
                                       "batch_images_s": limits[(name, "batch")][-1]}
            rounds.append(raw)
            print("round %d done" % (round_ + 1), flush=True)
    finally:
        for path in paths:
            path.server.stop()
    limits = {key: statistics.median(rates) for key, rates in limits.items()}

    cold = {}
    image = {"name": SERVE_IMAGE}
    baseline_image = {"name": args.baseline_image} if args.baseline_image else None
    if args.cold_starts:
        image = image_facts(SERVE_IMAGE)
        baseline_image = baseline_image and image_facts(args.baseline_image)
        readable(workdir)
        starting = [path for path in paths if path.cold]
        for run in range(args.cold_starts):
            # The first path rotates by run, as the rounds' do: a container started right after
            # another was removed starts slower, and a fixed order put that on one path each run.
            first = run % len(starting)
            for path in starting[first:] + starting[:first]:
                cold.setdefault(path.name, []).append(cold_start(*path.cold))

    summary = report(cells, limits, cold, workers)
    comparisons = []
    if tree:
        comparisons.append(serve_compare.compare(cells, cold, "ours", tree.name, "baseline"))
    if args.without_worker_affinity:
        comparisons.append(serve_compare.compare(cells, cold, "ours", serve_paths.NO_AFFINITY, "variant"))
    if comparisons:
        summary["comparisons"] = comparisons
    data = {"width": args.width, "workers": workers, "cores": os.cpu_count(), "batch_rows": BATCH_ROWS,
            "batch_bytes": len(batch), "seconds_per_cell": args.seconds, "warmup_s": args.warmup,
            "image": image, "paths": [path.name for path in paths], "rounds": rounds,
            "cold_starts": {name: [list(run) for run in runs] for name, runs in cold.items()}}
    if tree:
        data.update(baseline_tree=tree.record(), baseline_image=baseline_image)
    path = run_record.finish(data, summary, args.out)
    averages = run_record.record["load_average"]
    print("load average (1, 5, 15 min): %.1f %.1f %.1f before, %.1f %.1f %.1f after"
          % (*averages["before"], *averages["after"]))
    print("\n" + run_record.record["table"])
    print("results: %s" % path)


def java_version():
    """The first line of `java -version` (the host's Java runs both servers)."""
    try:
        answer = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (answer.stderr or answer.stdout).splitlines()
    return lines[0].strip() if lines else None


def _post(url, body):
    return requests.post(url + "/invocations", data=body, headers={"Content-Type": "application/json"},
                         timeout=60)


def _answers(url, body):
    try:
        return _post(url, body).status_code == 200
    except OSError:
        return False


def _labels(answers, content):
    document = json.loads(content)
    if answers == "predictions":
        return np.array([p["label"] for p in document["predictions"]])
    return np.asarray(document).argmax(1)


def _median(rows):
    return sorted(rows, key=lambda row: row[0])[len(rows) // 2]


def _or_dash(value):
    return "-" if value is None else "%.1f" % value


def report(cells, limits, cold, workers):
    results = {}
    print("\n%-34s %12s %12s %8s" % ("", "ours", "stock", "ours/stock"))
    for measurement, title, unit in (("c1", "single image, concurrency 1", "req/s"),
                                     ("c8", "single image, concurrency 8", "req/s"),
                                     ("batch", "MultiRecord CSV", "images/s")):
        ours, stock = _median(cells[("ours", measurement)]), _median(cells[("stock", measurement)])
        print("%-34s %12.0f %12.0f %7.2fx   (%s)" % (title, ours[0], stock[0], ours[0] / stock[0], unit))
        # The ratio of each round's back-to-back pair: the machine's speed drifts by up to a third
        # within minutes, which moves both medians; a pair seconds apart shares the drift.
        paired = [o[0] / s[0] for o, s in zip(cells[("ours", measurement)], cells[("stock", measurement)])]
        print("%-34s %26s %7.2fx   (median of %d rounds, %.2f-%.2f)"
              % ("  paired ratio", "", statistics.median(paired), len(paired), min(paired), max(paired)))
        entry = {"unit": unit, "ours": ours[0], "stock": stock[0], "ratio": ours[0] / stock[0],
                 "paired_ratio": {"median": statistics.median(paired), "rounds": paired},
                 "rounds": {"ours": [c[0] for c in cells[("ours", measurement)]],
                            "stock": [c[0] for c in cells[("stock", measurement)]]}}
        if measurement != "batch":
            print("%-34s %9.2f ms %9.2f ms" % ("  p50 latency", ours[1], stock[1]))
            print("%-34s %9.2f ms %9.2f ms" % ("  p99 latency", ours[2], stock[2]))
            entry.update(p50_ms={"ours": ours[1], "stock": stock[1]}, p99_ms={"ours": ours[2], "stock": stock[2]})
        kind = "batch" if measurement == "batch" else "single"
        scale = 1 if measurement == "c1" else workers
        fractions = {name: cells_value / (limits[(name, kind)] * scale)
                     for name, cells_value in (("ours", ours[0]), ("stock", stock[0]))}
        print("%-34s %11.0f%% %11.0f%%   (limit: in-process rate x %d)"
              % ("  fraction of the limit", 100 * fractions["ours"], 100 * fractions["stock"], scale))
        entry["fraction_of_limit"] = fractions
        results[measurement] = entry
    print("%-34s %12.0f %12.0f   (%s, one core)" % ("in-process limit, single image", limits[("ours", "single")],
                                                   limits[("stock", "single")], "req/s"))
    print("%-34s %12.0f %12.0f   (%s, one core)" % ("in-process limit, CSV batch", limits[("ours", "batch")],
                                                   limits[("stock", "batch")], "images/s"))
    results["in_process_limit"] = {"single_req_s": {n: limits[(n, "single")] for n in ("ours", "stock")},
                                   "batch_images_s": {n: limits[(n, "batch")] for n in ("ours", "stock")}}
    for name in cold:  # ours, stock and an earlier commit's image
        healthy = serve_compare.median_of_some([h for h, _ in cold[name]])
        answered = serve_compare.median_of_some([a for _, a in cold[name]])
        print("%-34s %9s s to /ping 200, %s s to the first answer (median of %d)"
              % ("cold start (docker run), " + name, _or_dash(healthy), _or_dash(answered), len(cold[name])))
        results.setdefault("cold_start_s", {})[name] = {"ping_200": healthy, "first_answer": answered,
                                                       "runs": cold[name]}
    return results


if __name__ == "__main__":
    main()

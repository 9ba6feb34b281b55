"""Serving speed of the inference image's path against the stock path, side by side in one run.

    .venv/bin/python bench/serve_speed.py [--width 32] [--seconds 5] [--rounds 5] [--warmup 90] [--out DIR]

Both paths run the same multi-model-server (the host's Java 17), the same model and the same
number of workers:
  ours   as this image's serve starts it: sagemaker_mnist_container.handler_service + sagemaker_mnist.inference, MMS
         through sagemaker_mnist_container.launcher (its logging config) with the plugin agent's worker
         affinity and batches of the requests already waiting (up to 8), backends forked from
         the preloader
  stock  sagemaker-inference's default handler service and decoders/encoders, with a model_fn and
         predict_fn as a typical bring-your-own-container user writes them (STOCK_INFERENCE
         below), MMS with the toolkit's config, MMS's own worker order (no worker affinity) and
         its batch size of 1
After a warm-up of both servers (--warmup seconds of load each: the JVM's C2 compiler needs a
while under load to finish with MMS's request path), measured in rounds, each measurement on both
paths back to back (the first path alternating by round), so that background load and the
machine's drift fall on both alike; reported: the median of the rounds for each path, their
ratio, and the median of the rounds' paired ratios:
  - single-image JSON requests at concurrency 1 and 8: throughput, p50 and p99 latency
  - MultiRecord CSV batches (as batch transform sends them, BATCH_ROWS images per request,
    2 requests in flight): images per second
  - each as a fraction of its limit: the same handler's decode-predict-encode rate in this
    process with no server (one core per worker: x1 at concurrency 1, x workers otherwise)
  - cold start of the real image (docker run to a healthy /ping, and to the first answer), ours
    and the stock handler started by sagemaker-inference's start_model_server in the same image
The load generator (bench/load.py: one thread, raw keep-alive sockets) runs on the same cores as
the servers; its cost counts against both paths.

It writes bench/results/serve_speed.json (bench/provenance.py: the commit, machine, load average
before and after, every round's numbers on both paths, every cold start, the summary and its
table); bench/publish.py puts the tables in README.md and bench/serve_speed.md.
"""
import argparse
import http.client
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
import torch  # noqa: E402

import load as client  # noqa: E402
import provenance  # noqa: E402
from harness import bodies, small_model  # noqa: E402
from harness.digits import mnist  # noqa: E402
from harness.model_server import ModelServer, free_port  # noqa: E402
from sagemaker_mnist import artifacts, recipe  # noqa: E402
from sagemaker_mnist_container import plugin  # noqa: E402
from sagemaker_mnist_container.settings import DEFAULT_VMARGS, default_workers  # noqa: E402

BATCH_ROWS = 1000
SERVE_IMAGE = os.environ.get("SERVE_IMAGE", "mnist-pytorch-inference:latest")
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"

STOCK_INFERENCE = '''
import torch
from sagemaker_mnist import model as mnist_model


def model_fn(model_dir):
    return mnist_model.load(model_dir)


def predict_fn(data, model):
    with torch.no_grad():
        images = torch.tensor(data, dtype=torch.float32).reshape(-1, 1, 28, 28) / 255.0
        return torch.softmax(model(images), dim=1).numpy()
'''
STOCK_HANDLER = "sagemaker_inference.default_handler_service"
STOCK_VMARGS = DEFAULT_VMARGS + " -Dmnist.worker_affinity=false"  # the toolkit's vmargs, MMS's worker order
# MMS's own batch size for a model it loads at start-up, as the toolkit leaves it.
STOCK_ENV = {"SAGEMAKER_MODEL_SERVER_VMARGS": STOCK_VMARGS, "SAGEMAKER_MODEL_SERVER_BATCH_SIZE": "1"}
OURS_HANDLER = "sagemaker_mnist_container.handler_service"


# --- Models

def make_models(workdir, width):
    """Our artifact (as the trainer writes it) and the stock one (same weights, the stock code)."""
    net, config = small_model.train_small_model(width=width, n_train=4096)
    ours = workdir / "ours"
    artifacts.write(str(ours), net, config)
    stock = workdir / "stock"
    artifacts.write(str(stock), net, config)
    (stock / "code" / "inference.py").write_text(STOCK_INFERENCE)
    return ours, stock


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


# --- Cold start of the real image

def docker(*args, **kwargs):
    return subprocess.run([DOCKER, *args], check=True, capture_output=True, text=True, **kwargs)


def cold_start(model_dir, stock):
    """Seconds from `docker run` to /ping 200 and to the first answered invocation."""
    port = free_port()
    args = ["run", "-d", "-p", "127.0.0.1:%d:8080" % port, "-v", "%s:/opt/ml/model:ro" % model_dir]
    if stock:
        args += ["--entrypoint", "python3", SERVE_IMAGE, "-c",
                 "from sagemaker_inference import model_server; model_server.start_model_server()"]
    else:
        args += [SERVE_IMAGE, "serve"]
    body = bodies.json_body(mnist("t10k")[0][0]).encode()
    started = time.monotonic()
    container = docker(*args).stdout.strip()
    healthy = answered = None
    try:
        while time.monotonic() - started < 300:
            now = time.monotonic()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                if healthy is None:
                    connection.request("GET", "/ping")
                    response = connection.getresponse()
                    response.read()
                    if response.status == 200:
                        healthy = now - started
                if healthy is not None:
                    connection.request("POST", "/invocations", body, {"Content-Type": "application/json"})
                    response = connection.getresponse()
                    response.read()
                    if response.status == 200:
                        answered = time.monotonic() - started
                        break
                connection.close()
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
    finally:
        subprocess.run([DOCKER, "rm", "-f", container], capture_output=True)
    return healthy, answered


def readable(path):
    for root, dirs, files in os.walk(path):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


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
    parser.add_argument("--out", default=provenance.RESULTS,
                        help="folder for serve_speed.json (default: bench/results, the committed result)")
    args = parser.parse_args()
    run_record = provenance.Run("serve_speed", vars(args), with_torch=True, java=java_version())

    workdir = pathlib.Path(tempfile.mkdtemp(prefix="serve-speed-"))
    images, labels = mnist("t10k")
    single = bodies.json_body(images[0]).encode()
    batch = bodies.csv_body(images[:BATCH_ROWS]).encode()
    ours_dir, stock_dir = make_models(workdir, args.width)
    jar = plugin.build(workdir / "plugin.jar")
    workers = default_workers()
    print("model width %d, %d workers per server, %d cores; %d-image CSV batches (%.1f MB)"
          % (args.width, workers, os.cpu_count(), BATCH_ROWS, len(batch) / 2**20), flush=True)

    cells = {}  # (path, measurement) -> list over rounds
    limits = {}  # (path, "single" or "batch") -> list over rounds
    rounds = []  # every round's numbers, both paths, in the order measured: the result's raw data
    servers = {
        "ours": ModelServer(workdir / "server-ours", jar, ours_dir, handler=OURS_HANDLER, preload=True),
        # The plugin jar serves the stock path's /ping too; its worker affinity is ours, not stock's.
        "stock": ModelServer(workdir / "server-stock", jar, stock_dir, handler=STOCK_HANDLER,
                                      env=STOCK_ENV),
    }
    try:
        for server in servers.values():
            server.start()
        for server in servers.values():
            server.wait_healthy()
            server.wait_until(lambda s=server: _answers(s, single), 120, "a first answer")
        # Both answer alike on real digits before anything is timed.
        for name, server in servers.items():
            response = server.invoke(bodies.json_body(images[:100]), "application/json")
            predicted = _labels(name, response.content)
            print("%-5s accuracy on 100 test digits: %.2f" % (name, (predicted == labels[:100]).mean()), flush=True)

        # The JVM compiles MMS's request path as it runs it (see --warmup): rounds measured cold
        # rose by 1.5-2x from the first to the third. Both servers are warmed alike.
        for server in servers.values():
            load(server.url, single, "application/json", "application/json", 8, args.warmup, warmup=0)
            load(server.url, batch, "text/csv", "text/csv", 2, args.warmup / 4, warmup=0)
        for round_ in range(args.rounds):
            # Each measurement on both paths back to back, the first path alternating by round:
            # the pairs are seconds apart, so the machine's drift falls on both (see report).
            order = list(servers.items())[::1 if round_ % 2 == 0 else -1]
            raw = {"first": order[0][0], "cells": {}, "limits": {}}
            for measurement in ("c1", "c8", "batch"):
                for name, server in order:
                    if measurement == "batch":
                        rate, latencies = load(server.url, batch, "text/csv", "text/csv", 2, args.seconds)
                        cells.setdefault((name, "batch"), []).append((rate * BATCH_ROWS, 0, 0))
                        raw["cells"].setdefault("batch", {})[name] = {"rate": rate * BATCH_ROWS,
                                                                      "requests": len(latencies)}
                        continue
                    rate, latencies = load(server.url, single, "application/json", "application/json",
                                           int(measurement[1:]), args.seconds)
                    cells.setdefault((name, measurement), []).append(
                        (rate, percentile(latencies, 50), percentile(latencies, 99)))
                    raw["cells"].setdefault(measurement, {})[name] = dict(
                        zip(("rate", "p50_ms", "p99_ms"), cells[(name, measurement)][-1]), requests=len(latencies))
            # The limits, measured in the same round: the handler alone, in this process.
            for name, model_dir, handler in (("ours", ours_dir, OURS_HANDLER), ("stock", stock_dir, STOCK_HANDLER)):
                limits.setdefault((name, "single"), []).append(in_process_rate(
                    model_dir, handler, single, "application/json", "application/json", args.seconds))
                limits.setdefault((name, "batch"), []).append(BATCH_ROWS * in_process_rate(
                    model_dir, handler, batch, "text/csv", "text/csv", args.seconds))
                raw["limits"][name] = {"single_req_s": limits[(name, "single")][-1],
                                       "batch_images_s": limits[(name, "batch")][-1]}
            rounds.append(raw)
            print("round %d done" % (round_ + 1), flush=True)
    finally:
        for server in servers.values():
            server.stop()
    limits = {key: statistics.median(rates) for key, rates in limits.items()}

    cold = {}
    image = {"name": SERVE_IMAGE}
    if args.cold_starts:
        image = image_facts(SERVE_IMAGE)
        readable(workdir)
        for run in range(args.cold_starts):
            for name, model_dir in (("ours", ours_dir), ("stock", stock_dir)):
                cold.setdefault(name, []).append(cold_start(model_dir, stock=name == "stock"))

    summary = report(cells, limits, cold, workers)
    data = {"width": args.width, "workers": workers, "cores": os.cpu_count(), "batch_rows": BATCH_ROWS,
            "batch_bytes": len(batch), "seconds_per_cell": args.seconds, "warmup_s": args.warmup,
            "image": image, "rounds": rounds, "cold_starts": {name: [list(run) for run in runs]
                                                                for name, runs in cold.items()}}
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


def image_facts(name):
    """The cold starts' image: its id, tags (build.sh tags the commit it was built from) and date."""
    try:
        inspected = json.loads(docker("image", "inspect", name).stdout)[0]
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
        return {"name": name}
    return {"name": name, "id": inspected["Id"], "tags": inspected.get("RepoTags") or [],
            "created": inspected.get("Created")}


def _answers(server, body):
    try:
        return server.invoke(body, "application/json").status_code == 200
    except OSError:
        return False


def _labels(name, content):
    document = json.loads(content)
    if name == "ours":
        return np.array([p["label"] for p in document["predictions"]])
    return np.asarray(document).argmax(1)


def _median(rows):
    return sorted(rows, key=lambda row: row[0])[len(rows) // 2]


def _median_of_some(values):
    """The median of the values that are there (a cold start that timed out has None), or None."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


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
    if cold:
        for name in ("ours", "stock"):
            healthy = _median_of_some([h for h, _ in cold[name]])
            answered = _median_of_some([a for _, a in cold[name]])
            print("%-34s %9s s to /ping 200, %s s to the first answer (median of %d)"
                  % ("cold start (docker run), " + name, _or_dash(healthy), _or_dash(answered), len(cold[name])))
            results.setdefault("cold_start_s", {})[name] = {"ping_200": healthy, "first_answer": answered,
                                                           "runs": cold[name]}
    return results


if __name__ == "__main__":
    main()

"""Soak of the real inference image: minutes of valid and bad requests at once, to show that nothing
wears out. Goals: no error on a valid request, every bad one a 4xx with a JSON message, the
container's memory less than 10% up from the end of the warm-up to the end of the run.

    .venv/bin/python bench/soak.py [--seconds 600] [--concurrency 32] [--warmup 60] [--image IMAGE]
        [--model-dir DIR] [--max-payload-mb 6] [--seed 0] [--out DIR]

The image (default $SERVE_IMAGE, else mnist-pytorch-inference:latest) runs as SageMaker runs it,
`docker run IMAGE serve` with the model at /opt/ml/model and its port published on 127.0.0.1 only,
and with its own defaults but for SAGEMAKER_MAX_PAYLOAD_IN_MB (--max-payload-mb, which the bad
requests' sizes follow). The model is --model-dir, or a small MnistNet trained here on real digits
(harness.small_model: 16 channels wide, one pass over 16,384 digits, about 96% accurate, 10 s).

The load (bench/load.py's raw keep-alive sockets, one thread) keeps --concurrency requests in
flight, each connection drawing its next request at random (seeded) from a fixed mix, prepared
once as bytes:
  valid  every content type the endpoint reads (JSON, JSON instances, CSV, CSV with a byte-order
         mark, JSON lines, npy, PNG and JPEG pictures, no Content-Type), gzip and deflate bodies,
         each kind in several variants of real test digits, with every Accept in turn; each
         answer's digits must be the ones this tree's own handlers give for the same body in this
         process (sagemaker_mnist.inference, the code the image was built from), and are scored
         against the true digits (accuracy). Digits are drawn among those the model tells apart
         from its second guess by 0.05 or more, so that the server's batched forward pass cannot
         round an answer the other way.
  bad    malformed bodies (bad JSON, wrong shape, NaN, words in CSV, an empty body, pickled npy,
         a corrupt PNG, a PNG decompression bomb), content types (text/plain, ";;;==="), content
         encodings (br, gzip named but not sent, gzip cut short, a 1 GiB gzip bomb), sizes (just
         over the payload limit, and three times it, which MMS itself refuses), an Accept the
         endpoint cannot produce, an unknown path and GET /invocations: each must be answered
         with a 4xx and a JSON body with a message. Each has the 4xx it should get (400, 404, 405,
         406, 413, 415); another 4xx with a message is not an error, but is counted apart.
Anything else is an error, counted by kind (the request's kind and what went wrong: a status
that is not a 4xx, or not the 200 of a valid request, no JSON message, other digits, a connection
closed or reset, no answer in 60 s) with the first answers of each kind kept as samples. Which
answers close their keep-alive connection (Connection: close) is counted per kind too.

Memory, every 5 s from the container's cgroup on the host (v1 or v2, found through
/proc/<the container's pid>/cgroup): the usage `docker stats` shows (the cgroup's usage less its
inactive file cache), the usage with all cache, and the sum of its processes' resident set sizes
(VmRSS; pages the preloader's forked backends share are counted once per process), each process's
own at the start and end. The figures at the end of the warm-up and at the end of the run decide
the memory goal; the warm-up's requests are checked like the others, and latencies (p50, p99) come
from the measured window alone. The container's log is read at the end for backends that died.

It writes bench/results/soak.json (bench/provenance.py: the commit, machine, image, load average
before and after; the mix, every kind's counts and latencies, every memory sample, the error
samples, the summary and its table); bench/publish.py puts the table in bench/README.md. Not a
test: it takes --seconds (10 minutes by default) and the machine's cores, so run it on a quiet
machine.
"""
import argparse
import dataclasses
import io
import json
import os
import pathlib
import random
import re
import selectors
import sys
import tempfile
import threading
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "code"), str(REPO / "container")]

import numpy as np  # noqa: E402

import load as client  # noqa: E402
import provenance  # noqa: E402
from cold_start import DOCKER, docker, image_facts, readable  # noqa: E402
from harness import bodies, small_model  # noqa: E402
from harness.digits import mnist  # noqa: E402
from harness.model_server import free_port  # noqa: E402
from sagemaker_mnist import artifacts  # noqa: E402

SERVE_IMAGE = os.environ.get("SERVE_IMAGE", "mnist-pytorch-inference:latest")
HOST = "127.0.0.1"
ACCEPTS = (None, "*/*", "application/json", "application/jsonlines", "text/csv", "application/x-npy")
VARIANTS = 12  # bodies per valid kind, each of other digits and with the next Accept
BATCH = 4  # images per body of the kinds that hold several
MARGIN = 0.05  # the least lead of a chosen digit's answer over the model's second guess
ANSWER_TIMEOUT = 60.0
SAMPLE_EVERY = 5.0
SAMPLES_KEPT = 3  # answers kept per error kind
GOAL_MEMORY_GROWTH = 0.10
# Mix weights: each valid kind VALID_WEIGHT, each bad one 1, the large bodies less (they cost the
# client and the server tens of milliseconds each): about 20% of the requests are bad.
VALID_WEIGHT = 6.0
LARGE_WEIGHT = 0.2
BOM = b"\xef\xbb\xbf"


@dataclasses.dataclass
class Case:
    kind: str
    valid: bool
    request: bytes
    status: int = 200  # what a bad request must be answered with
    labels: tuple = None  # a valid request's digits as this tree's handlers answer them
    truth: tuple = None  # the digits the images are
    weight: float = 1.0


# --- The mix

class Expectations:
    """This tree's own handlers in this process: what the image answers for a body."""

    def __init__(self, model_dir):
        import torch

        from sagemaker_mnist import inference
        from sagemaker_mnist.codecs import content_encodings

        torch.set_num_threads(1)
        self.inference, self.encodings = inference, content_encodings
        self.model = inference.model_fn(str(model_dir))

    def probabilities(self, body, content_type, encoding=None):
        if encoding:
            body = self.encodings.decode(body, encoding, 2**31)
        return self.inference.predict_fn(self.inference.input_fn(body, content_type), self.model)


def _clear(probabilities):
    top = np.sort(probabilities, axis=1)
    return bool((top[:, -1] - top[:, -2] >= MARGIN).all())


def _gzip(body):
    import gzip
    return gzip.compress(body, 6)


def _deflate(body):
    import zlib
    return zlib.compress(body, 6)


# (kind, images per body, make(images) -> body, content type, Content-Encoding or None)
VALID_KINDS = [
    ("JSON, one 28x28 image", 1, lambda x: bodies.json_body(x[0]).encode(), "application/json", None),
    ("JSON instances", BATCH, lambda x: json.dumps({"instances": x.tolist()}).encode(), "application/json",
     None),
    ("CSV", BATCH, lambda x: bodies.csv_body(x).encode(), "text/csv", None),
    ("CSV with a byte-order mark", BATCH, lambda x: BOM + bodies.csv_body(x).encode(), "text/csv", None),
    ("JSON lines", BATCH, lambda x: bodies.jsonlines_body(x).encode(), "application/jsonlines", None),
    ("npy", BATCH, bodies.npy_body, "application/x-npy", None),
    ("PNG picture", 1, lambda x: bodies.picture(x[0], size=(120, 100), fmt="PNG"), "image/png", None),
    ("JPEG picture", 1, lambda x: bodies.picture(x[0], size=(120, 100), fmt="JPEG"), "image/jpeg", None),
    ("no Content-Type (JSON, sniffed)", 1, lambda x: bodies.json_body(x[0]).encode(), None, None),
    ("gzip JSON", BATCH, lambda x: _gzip(bodies.json_body(x).encode()), "application/json", "gzip"),
    ("gzip CSV", BATCH, lambda x: _gzip(bodies.csv_body(x).encode()), "text/csv", "gzip"),
    ("gzip npy", BATCH, lambda x: _gzip(bodies.npy_body(x)), "application/x-npy", "gzip"),
    ("deflate JSON lines", BATCH, lambda x: _deflate(bodies.jsonlines_body(x).encode()),
     "application/jsonlines", "deflate"),
]


def valid_cases(expect, images, labels, rng, port):
    """VARIANTS bodies of each valid kind, of digits the model tells apart clearly."""
    cases, order = [], list(rng.permutation(len(images)))
    accepts = iter(ACCEPTS * (len(VALID_KINDS) * VARIANTS))
    for kind, count, make, content_type, encoding in VALID_KINDS:
        made = 0
        while made < VARIANTS:
            chosen = [order.pop() for _ in range(count)]
            body = make(images[chosen])
            probabilities = expect.probabilities(body, content_type, encoding)
            if not _clear(probabilities):
                continue
            accept = next(accepts)
            headers = {"Content-Encoding": encoding} if encoding else None
            request = client.request_bytes(HOST, port, "/invocations", body, content_type, accept,
                                           headers=headers)
            cases.append(Case(kind, True, request, labels=tuple(probabilities.argmax(1).tolist()),
                              truth=tuple(int(labels[i]) for i in chosen), weight=VALID_WEIGHT / VARIANTS))
            made += 1
    return cases


def bad_cases(images, limit_mb, port):
    import pickle

    digit = bodies.json_body(images[0]).encode()
    limit = limit_mb * 2**20
    pickled = pickle.dumps(np.zeros((28, 28)))
    # (kind, method, path, body, content type, headers, status, weight)
    found = [
        ("bad JSON", "POST", "/invocations", b'{"instances": [[1, 2', "application/json", None, 400, 1),
        ("wrong shape", "POST", "/invocations", json.dumps([[1, 2, 3]]).encode(), "application/json", None,
         400, 1),
        ("NaN", "POST", "/invocations", ("[" + ",".join(["NaN"] * 784) + "]").encode(), "application/json",
         None, 400, 1),
        ("words in CSV", "POST", "/invocations", b"a,b,c\n", "text/csv", None, 400, 1),
        ("empty body", "POST", "/invocations", b"", "application/json", None, 400, 1),
        ("pickled npy", "POST", "/invocations", pickled, "application/x-npy", None, 400, 1),
        ("corrupt PNG", "POST", "/invocations", b"\x89PNG\r\n\x1a\n" + bytes(100), "image/png", None, 400, 1),
        ("PNG decompression bomb", "POST", "/invocations", bodies.png_claiming(30000, 30000), "image/png",
         None, 400, 1),
        ("Content-Type text/plain", "POST", "/invocations", digit, "text/plain", None, 415, 1),
        ("Content-Type ;;;===", "POST", "/invocations", digit, ";;;===", None, 415, 1),
        ("Content-Encoding br", "POST", "/invocations", digit, "application/json", {"Content-Encoding": "br"},
         415, 1),
        ("gzip named, JSON sent", "POST", "/invocations", digit, "application/json",
         {"Content-Encoding": "gzip"}, 400, 1),
        ("gzip cut short", "POST", "/invocations", _gzip(digit)[:-30], "application/json",
         {"Content-Encoding": "gzip"}, 400, 1),
        ("gzip bomb, 1 GiB of zeros", "POST", "/invocations", bodies.gzip_bomb(2**30), "text/csv",
         {"Content-Encoding": "gzip"}, 413, LARGE_WEIGHT),
        ("just over the payload limit", "POST", "/invocations", b"0," * int(0.625 * limit), "text/csv", None,
         413, LARGE_WEIGHT),
        ("three times the payload limit", "POST", "/invocations", b"0," * int(1.5 * limit), "text/csv", None,
         413, LARGE_WEIGHT),
        ("Accept application/xml", "POST", "/invocations", digit, "application/json",
         {"Accept": "application/xml"}, 406, 1),
        ("unknown path", "POST", "/no-such-path", digit, "application/json", None, 404, 1),
        ("GET /invocations", "GET", "/invocations", b"", None, None, 405, 1),
    ]
    return [Case(kind, False, client.request_bytes(HOST, port, path, body, content_type, None, method,
                                                   headers), status=status, weight=weight)
            for kind, method, path, body, content_type, headers, status, weight in found]


def labels_of(body, content_type):
    """The digits of a 200 answer, as the endpoint writes them in each output type."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/json":
        return tuple(p["label"] for p in json.loads(body)["predictions"])
    if kind == "application/jsonlines":
        return tuple(json.loads(line)["label"] for line in body.splitlines() if line.strip())
    if kind == "text/csv":
        return tuple(int(line.split(b",", 1)[0]) for line in body.splitlines() if line.strip())
    if kind == "application/x-npy":
        return tuple(np.load(io.BytesIO(body), allow_pickle=False).argmax(1).tolist())
    raise ValueError("an answer of type %r" % content_type)


# --- The container and its memory

class Container:
    """`docker run IMAGE serve` on a model, its port on 127.0.0.1; its memory read on the host."""

    def __init__(self, image, model_dir, limit_mb):
        self.port = free_port()
        readable(model_dir)
        self.id = docker("run", "-d", "-p", "%s:%d:8080" % (HOST, self.port),
                         "-v", "%s:/opt/ml/model:ro" % model_dir,
                         "-e", "SAGEMAKER_MAX_PAYLOAD_IN_MB=%d" % limit_mb, image, "serve").stdout.strip()
        self.cgroup = None

    def wait_healthy(self, timeout=300):
        import http.client

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection(HOST, self.port, timeout=5)
                connection.request("GET", "/ping")
                if connection.getresponse().status == 200:
                    pid = int(docker("inspect", "-f", "{{.State.Pid}}", self.id).stdout)
                    self.cgroup = CgroupMemory.of(pid)
                    return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.5)
        raise TimeoutError("the container was not healthy within %d s; its log:\n%s"
                           % (timeout, self.log()[-4000:]))

    def log(self):
        import subprocess

        done = subprocess.run([DOCKER, "logs", self.id], capture_output=True, text=True, errors="replace")
        return done.stdout + done.stderr

    def stop(self):
        import subprocess

        subprocess.run([DOCKER, "rm", "-f", self.id], capture_output=True)


class CgroupMemory:
    """A container's memory as its cgroup counts it (v1 or v2), and its processes' RSS."""

    def __init__(self, directory, version, proc="/proc"):
        self.directory, self.version, self.proc = pathlib.Path(directory), version, pathlib.Path(proc)

    @classmethod
    def of(cls, pid, root="/sys/fs/cgroup"):
        """The memory cgroup of host process `pid` (the container's first), from /proc/<pid>/cgroup."""
        found = None
        with open("/proc/%d/cgroup" % pid) as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if "memory" in controllers.split(","):
                    found = (root + "/memory" + path, 1)
                elif controllers == "" and found is None:
                    found = (root + path, 2)
        if found is None or not os.path.isdir(found[0]):
            raise RuntimeError("the container's memory cgroup is not under %s (%s)" % (root, found))
        return cls(*found)

    def sample(self):
        stat = dict(line.split() for line in (self.directory / "memory.stat").read_text().splitlines())
        if self.version == 1:
            usage = int((self.directory / "memory.usage_in_bytes").read_text())
            inactive, anon = int(stat["total_inactive_file"]), int(stat["total_rss"])
        else:
            usage = int((self.directory / "memory.current").read_text())
            inactive, anon = int(stat["inactive_file"]), int(stat["anon"])
        processes = {}
        for pid in (self.directory / "cgroup.procs").read_text().split():
            try:
                status = (self.proc / pid / "status").read_text()
                command = (self.proc / pid / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue  # gone since the list was read
            rss = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
            processes[pid] = {"rss": int(rss.group(1)) * 1024 if rss else 0,
                              "command": _short(command.decode(errors="replace"))}
        return {"usage": usage - inactive, "usage_with_cache": usage, "anon": anon,
                "rss_sum": sum(p["rss"] for p in processes.values()), "processes": processes}


def _short(command):
    known = ("model_service_worker", "sagemaker_mnist_container.preload", "com.amazonaws.ml.mms.ModelServer")
    for name in known:
        if name in command:
            return name
    return command[:80]


class Sampler(threading.Thread):
    def __init__(self, memory, started):
        super().__init__(daemon=True, name="memory-sampler")
        self.memory, self.started = memory, started
        self.samples, self.stopping = [], threading.Event()

    def take(self, phase):
        sample = self.memory.sample()
        sample.update(t=round(time.monotonic() - self.started, 1), phase=phase)
        self.samples.append(sample)
        return sample

    def run(self):
        while not self.stopping.wait(SAMPLE_EVERY):
            try:
                self.take("run")
            except OSError:
                break  # the container is gone


# --- The load

class Tally:
    def __init__(self):
        self.kinds = {}  # kind -> requests, errors, latencies (of the measured window)
        self.errors = {}  # "kind: what went wrong" -> count
        self.samples = {}  # "kind: what went wrong" -> the first answers
        # "kind: status" -> count of bad requests answered with a 4xx and a message, but not the 4xx
        # expected: not errors (the goal asks for a 4xx with a message), but worth knowing.
        self.other_statuses = {}
        self.images = self.correct = 0

    def _entry(self, case):
        fresh = {"valid": case.valid, "expected": case.status, "requests": 0, "errors": 0, "other_status": 0,
                 "closed": 0, "latencies": []}
        return self.kinds.setdefault(case.kind, fresh)

    def answered(self, case, status, head, body, latency, measured, closing):
        entry = self._entry(case)
        entry["requests"] += 1
        entry["closed"] += closing
        if measured:
            entry["latencies"].append(latency)
        what = self._judge(case, status, head, body)
        if what:
            self._error(case, what, "%s %s" % (status, bytes(body[:200]).decode("utf-8", "replace")))
        elif not case.valid and status != case.status:
            entry["other_status"] += 1
            key = "%s: %d instead of %d" % (case.kind, status, case.status)
            self.other_statuses[key] = self.other_statuses.get(key, 0) + 1

    def failed(self, case, what):
        self._entry(case)["requests"] += 1
        self._error(case, what, what)

    def _error(self, case, what, sample):
        self._entry(case)["errors"] += 1
        key = "%s: %s" % (case.kind, what)
        self.errors[key] = self.errors.get(key, 0) + 1
        kept = self.samples.setdefault(key, [])
        if len(kept) < SAMPLES_KEPT:
            kept.append(sample)

    def _judge(self, case, status, head, body):
        """What is wrong with an answer, or None."""
        found = re.search(rb"^content-type:[ \t]*([^\r\n]*)", head, re.I | re.M)
        content_type = found.group(1).decode("latin-1") if found else None
        if case.valid:
            if status != 200:
                return "status %d" % status
            try:
                digits = labels_of(body, content_type)
            except (ValueError, KeyError, TypeError) as e:
                return "an answer that cannot be read (%s)" % type(e).__name__
            self.images += len(digits)
            self.correct += sum(a == b for a, b in zip(digits, case.truth))
            return None if digits == case.labels else "other digits than this tree's handlers give"
        if not 400 <= status < 500:
            return "status %d (expected %d)" % (status, case.status)
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            message = None
        return None if isinstance(message, str) and message.strip() else "no JSON message"


class Load:
    """--concurrency keep-alive connections, each sending a request drawn from the mix as soon as
    its last one is answered; a connection the server closes or resets is opened again. A server
    that stops taking connections ends the run (`stopped` says why)."""

    def __init__(self, port, cases, concurrency, rng):
        self.port, self.cases, self.concurrency, self.rng = port, cases, concurrency, rng
        self.weights = [case.weight for case in cases]
        self.tally = Tally()
        self.reconnects = 0
        self.stopped = None
        self.begin = self.end = 0.0

    def run(self, begin, end):
        """Sends until `end` (monotonic); latencies count for answers between `begin` and `end`."""
        self.begin, self.end = begin, end
        self.selector = selectors.DefaultSelector()
        # A slot: [connection, the request in flight or None].
        self.slots = [[None, None] for _ in range(self.concurrency)]
        try:
            for slot in self.slots:
                self._connect(slot) and self._next(slot)
            while any(slot[1] is not None for slot in self.slots):
                for key, _ in self.selector.select(timeout=1.0):
                    self._readable(key.data)
                now = time.monotonic()
                for slot in self.slots:
                    if slot[1] is not None and now - slot[0].sent_at > ANSWER_TIMEOUT:
                        self._fail(slot, "no answer within %d s" % ANSWER_TIMEOUT)
                        self._connect(slot) and self._next(slot)
        finally:
            self.selector.close()
            for connection, _ in self.slots:
                if connection is not None:
                    connection.sock.close()

    def _readable(self, slot):
        connection, case = slot
        if case is None:
            return
        try:
            if not connection.receive():
                return
        except (OSError, client.ResponseError, ValueError) as e:
            self._fail(slot, "the connection was closed before an answer (%s)" % type(e).__name__)
            self._connect(slot) and self._next(slot)
            return
        self._answered(slot)
        if connection.closing:
            self._connect(slot)
        self._next(slot)

    def _next(self, slot):
        """Sends the slot the mix's next request while there is time (a connection refused or
        reset while sending is opened again, and the failure counted)."""
        while slot[0] is not None and time.monotonic() < self.end:
            case = self.rng.choices(self.cases, self.weights)[0]
            connection = slot[0]
            slot[1] = case
            connection.sent_at = time.monotonic()
            connection.sock.settimeout(ANSWER_TIMEOUT)
            try:
                connection.sock.sendall(case.request)
                connection.sock.setblocking(False)
                return
            except OSError:
                # MMS refuses a body far over its limit before it has all of it, and closes: its
                # answer may be waiting.
                if not self._answer_after_a_failed_send(slot):
                    self._fail(slot, "the connection was reset while sending")
                self._connect(slot)

    def _answer_after_a_failed_send(self, slot):
        connection = slot[0]
        connection.sock.settimeout(2)
        try:
            while not connection.receive():
                pass
        except (OSError, client.ResponseError, ValueError):
            return False
        self._answered(slot)
        return True

    def _answered(self, slot):
        connection, case = slot
        done = time.monotonic()
        response, at = connection.response, connection.body_at
        self.tally.answered(case, connection.status, response[:at], response[at:], done - connection.sent_at,
                            self.begin <= done <= self.end, connection.closing)
        slot[1] = None

    def _fail(self, slot, what):
        self.tally.failed(slot[1], what)
        slot[1] = None

    def _connect(self, slot):
        """Opens the slot's connection (again); False, and the run stops, if the server refuses it."""
        if slot[0] is not None:
            self.reconnects += 1
            self.selector.unregister(slot[0].sock)
            slot[0].sock.close()
            slot[0] = None
        for _ in range(50):
            try:
                slot[0] = client._Connection((HOST, self.port))
                break
            except OSError as e:
                refused = e
                time.sleep(0.1)
        else:
            self.stopped = "the server stopped taking connections (%s)" % refused
            self.end = 0.0
            return False
        self.selector.register(slot[0].sock, selectors.EVENT_READ, slot)
        return True


# --- The run

def percentile(values, q):
    return float(np.percentile(np.asarray(values) * 1000, q)) if values else None


def memory_figures(sample):
    return {name: sample[name] for name in ("usage", "usage_with_cache", "anon", "rss_sum")}


def summarise(tally, load, samples, start_sample, seconds, warmup, deaths):
    """The result's summary: counts, errors by kind, latencies, memory, and each goal met or not."""
    valid = {kind: e for kind, e in tally.kinds.items() if e["valid"]}
    bad = {kind: e for kind, e in tally.kinds.items() if not e["valid"]}
    valid_latencies = [x for e in valid.values() for x in e["latencies"]]
    measured = sum(len(e["latencies"]) for e in tally.kinds.values())
    end_sample = samples[-1]
    start, end = memory_figures(start_sample), memory_figures(end_sample)
    growth = {name: end[name] / start[name] - 1 if start[name] else None for name in start}
    peak = max(s["usage"] for s in samples if s["t"] >= start_sample["t"])
    summary = {
        "seconds": seconds, "warmup_s": warmup, "concurrency": load.concurrency,
        "requests": sum(e["requests"] for e in tally.kinds.values()), "measured_requests": measured,
        "rate_req_s": measured / seconds,
        "valid": {"kinds": len(valid), "requests": sum(e["requests"] for e in valid.values()),
                  "errors": sum(e["errors"] for e in valid.values()), "images": tally.images,
                  "accuracy": tally.correct / tally.images if tally.images else None,
                  "p50_ms": percentile(valid_latencies, 50), "p99_ms": percentile(valid_latencies, 99)},
        "bad": {"kinds": len(bad), "requests": sum(e["requests"] for e in bad.values()),
                "errors": sum(e["errors"] for e in bad.values())},
        "errors": dict(sorted(tally.errors.items(), key=lambda item: -item[1])),
        "other_statuses": dict(sorted(tally.other_statuses.items(), key=lambda item: -item[1])),
        "reconnects": load.reconnects, "backend_deaths": deaths, "stopped_early": load.stopped,
        "memory": {"start": start, "end": end, "growth": growth, "peak_usage": peak,
                   "start_t": start_sample["t"], "end_t": end_sample["t"]},
        "kinds": {kind: {"valid": e["valid"], "expected": e["expected"], "requests": e["requests"],
                         "errors": e["errors"], "other_status": e["other_status"], "closed": e["closed"],
                         "p50_ms": percentile(e["latencies"], 50),
                         "p99_ms": percentile(e["latencies"], 99)}
                  for kind, e in sorted(tally.kinds.items())},
    }
    summary["goals"] = {
        "no_valid_errors": summary["valid"]["errors"] == 0 and not load.stopped,
        "every_bad_a_4xx_with_a_message": summary["bad"]["errors"] == 0,
        "memory_growth_under_10_percent": growth["usage"] is not None
        and growth["usage"] < GOAL_MEMORY_GROWTH,
    }
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="the measured window (default 10 min)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    # The JVM's heap grows for the first minute under this load (393 to 457 MB RSS between 30 and 60 s
    # in a 30 s trial, the backends flat): memory's start is taken after it.
    parser.add_argument("--warmup", type=float, default=60.0,
                        help="seconds of the same load before the window; memory's start is its end "
                             "(default: %(default)s)")
    parser.add_argument("--image", default=SERVE_IMAGE, help="the inference image (default: %(default)s)")
    parser.add_argument("--model-dir", help="a model artifact to serve (default: a small net trained here)")
    parser.add_argument("--max-payload-mb", type=int, default=6,
                        help="SAGEMAKER_MAX_PAYLOAD_IN_MB for the container (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=provenance.RESULTS,
                        help="folder for soak.json (default: bench/results, the committed result)")
    args = parser.parse_args()
    version = docker("version", "--format", "{{.Server.Version}}").stdout.strip()
    run_record = provenance.Run("soak", vars(args), with_torch=True, docker=version)

    workdir = pathlib.Path(tempfile.mkdtemp(prefix="soak-"))
    if args.model_dir:
        model_dir, model = pathlib.Path(args.model_dir).resolve(), {"model_dir": args.model_dir}
    else:
        model_dir = workdir / "model"
        net, config = small_model.train_small_model(width=16, n_train=16384, seed=args.seed)
        artifacts.write(str(model_dir), net, config)
        model = {"trained_here": {"width": 16, "n_train": 16384, "seed": args.seed}}
    container = Container(args.image, model_dir, args.max_payload_mb)
    try:
        # The mix is made while the container starts.
        images, labels = mnist("t10k")
        rng = np.random.default_rng(args.seed)
        cases = (valid_cases(Expectations(model_dir), images, labels, rng, container.port)
                 + bad_cases(images, args.max_payload_mb, container.port))
        print("%d requests in the mix, %d kinds valid, %d bad; %g s at concurrency %d after %g s of warm-up"
              % (len(cases), len(VALID_KINDS), sum(not c.valid for c in cases), args.seconds,
                 args.concurrency, args.warmup), flush=True)
        container.wait_healthy()
        started = time.monotonic()
        sampler = Sampler(container.cgroup, started)
        idle = sampler.take("idle")
        sampler.start()
        load = Load(container.port, cases, args.concurrency, random.Random(args.seed))
        begin = time.monotonic() + args.warmup
        end = begin + args.seconds
        # The warm-up is the window's first part, with latencies left out; memory's start is its end.
        warm = threading.Timer(args.warmup, lambda: sampler.take("start"))
        warm.start()
        load.run(begin, end)
        warm.join()
        sampler.stopping.set()
        sampler.join()
        sampler.take("end")
        log = container.log()
    finally:
        container.stop()
    samples = sorted(sampler.samples, key=lambda sample: sample["t"])
    start_sample = next(s for s in samples if s["phase"] == "start")
    if load.stopped:
        print("the run stopped early: %s" % load.stopped, flush=True)
    deaths = log.count("Backend worker process died")
    summary = summarise(load.tally, load, samples, start_sample, args.seconds, args.warmup, deaths)
    data = {"image": image_facts(args.image), "model": model, "max_payload_mb": args.max_payload_mb,
            "mix": [{"kind": c.kind, "valid": c.valid, "status": c.status, "weight": c.weight,
                     "bytes": len(c.request)} for c in cases],
            "memory_idle": memory_figures(idle),
            "processes": {"start": start_sample["processes"], "end": samples[-1]["processes"]},
            "memory_samples": [dict(memory_figures(s), t=s["t"], phase=s["phase"]) for s in samples],
            "error_samples": load.tally.samples, "log_tail": log.splitlines()[-40:]}
    path = run_record.finish(data, summary, args.out)
    print("\n" + run_record.record["table"])
    print("results: %s" % path)


if __name__ == "__main__":
    main()

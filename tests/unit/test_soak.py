"""bench/soak.py's own parts, without Docker: how it reads the endpoint's answers, judges them,
reads a cgroup's memory, and drives keep-alive connections that a server closes, against a small
HTTP server in this process."""
import http.server
import importlib.util
import json
import sys
import threading

import numpy as np
import pytest

from sagemaker_mnist.codecs import encoders
from support import REPO

pytestmark = pytest.mark.unit


def _load_soak():
    bench = str(REPO / "bench")
    sys.path.insert(0, bench)
    try:
        spec = importlib.util.spec_from_file_location("bench_soak", REPO / "bench" / "soak.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(bench)


soak = _load_soak()


@pytest.mark.parametrize("accept", ["application/json", "application/jsonlines", "text/csv",
                                    "application/x-npy"])
def test_the_digits_of_every_output_type_are_read(accept):
    probabilities = np.eye(10, dtype=np.float32)[[3, 1, 4, 1, 5]]
    answer = encoders.encode(probabilities, accept)
    assert soak.labels_of(answer, accept + "; charset=utf-8") == (3, 1, 4, 1, 5)


def _case(valid, status=200):
    return soak.Case("a kind", valid, b"", status=status, labels=(7, 2) if valid else None,
                     truth=(7, 1) if valid else None)


_JSON = b"Content-Type: application/json"
_ANSWER = encoders.encode(np.eye(10, dtype=np.float32)[[7, 2]], "application/json")
_MESSAGE = json.dumps({"error": "Bad Request", "message": "the body is empty", "accepted": {}}).encode()

JUDGED = [
    # (case, status, head, body, error or None, another 4xx or not)
    ("valid, the digits expected", _case(True), 200, _JSON, _ANSWER, None, False),
    ("valid, other digits", _case(True), 200, _JSON,
     encoders.encode(np.eye(10, dtype=np.float32)[[7, 3]], "application/json"),
     "a kind: other digits than this tree's handlers give", False),
    ("valid, a 500", _case(True), 500, _JSON, b"{}", "a kind: status 500", False),
    ("valid, an unreadable answer", _case(True), 200, b"Content-Type: text/html", b"<p>",
     "a kind: an answer that cannot be read (ValueError)", False),
    ("bad, the 4xx expected", _case(False, 400), 400, _JSON, _MESSAGE, None, False),
    ("bad, another 4xx with a message", _case(False, 405), 400, _JSON, _MESSAGE, None, True),
    ("bad, a 4xx without a body", _case(False, 413), 413, b"", b"", "a kind: no JSON message", False),
    ("bad, a message that is not a string", _case(False, 400), 400, _JSON, b'{"message": 3}',
     "a kind: no JSON message", False),
    ("bad, answered 200", _case(False, 400), 200, _JSON, _ANSWER, "a kind: status 200 (expected 400)", False),
    ("bad, answered 500", _case(False, 415), 500, _JSON, _MESSAGE, "a kind: status 500 (expected 415)",
     False),
]


@pytest.mark.parametrize("name, case, status, head, body, error, other", JUDGED, ids=[j[0] for j in JUDGED])
def test_answers_are_judged_by_kind(name, case, status, head, body, error, other):
    tally = soak.Tally()
    tally.answered(case, status, head, body, 0.01, True, False)
    assert list(tally.errors) == ([error] if error else [])
    assert bool(tally.other_statuses) == other
    entry = tally.kinds["a kind"]
    assert (entry["requests"], entry["errors"], entry["other_status"]) == (1, int(bool(error)), int(other))


def test_accuracy_counts_images_against_the_true_digits():
    tally = soak.Tally()
    tally.answered(_case(True), 200, _JSON, _ANSWER, 0.01, True, False)
    assert (tally.images, tally.correct) == (2, 1)


@pytest.mark.parametrize("version", [1, 2])
def test_a_cgroups_memory_and_its_processes_rss_are_read(tmp_path, version):
    cgroup, proc = tmp_path / "cgroup", tmp_path / "proc"
    cgroup.mkdir()
    if version == 1:
        (cgroup / "memory.usage_in_bytes").write_text("1000000\n")
        (cgroup / "memory.stat").write_text("cache 5\nrss 6\ntotal_inactive_file 200000\ntotal_rss 700000\n")
    else:
        (cgroup / "memory.current").write_text("1000000\n")
        (cgroup / "memory.stat").write_text("anon 700000\nfile 300000\ninactive_file 200000\n")
    (cgroup / "cgroup.procs").write_text("11\n12\n13\n")
    for pid, rss, command in (("11", 300, b"java\0-cp\0com.amazonaws.ml.mms.ModelServer"),
                              ("12", 200, b"python3\0-m\0sagemaker_mnist_container.preload")):
        (proc / pid).mkdir(parents=True)
        (proc / pid / "status").write_text("Name:\tx\nVmRSS:\t  %d kB\n" % rss)
        (proc / pid / "cmdline").write_bytes(command)
    # Process 13 is gone by the time it is read.
    sample = soak.CgroupMemory(cgroup, version, proc).sample()
    assert (sample["usage"], sample["usage_with_cache"], sample["anon"]) == (800000, 1000000, 700000)
    assert sample["rss_sum"] == 500 * 1024
    assert {p["command"] for p in sample["processes"].values()} == {"com.amazonaws.ml.mms.ModelServer",
                                                                     "sagemaker_mnist_container.preload"}


# --- The load against a small server: valid answers, a 4xx that closes its connection, an empty 413

class _Endpoint(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if body == b"good":
            self._answer(200, _ANSWER)
        elif body == b"bad":
            self._answer(400, _MESSAGE, close=True)
        else:
            self._answer(413, b"")

    def _answer(self, status, body, close=False):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_load_keeps_connections_busy_and_opens_again_those_the_server_closes():
    import random
    import time

    server = http.server.ThreadingHTTPServer((soak.HOST, 0), _Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    def request(body):
        return soak.client.request_bytes(soak.HOST, port, "/invocations", body, "application/json", None)

    cases = [soak.Case("good", True, request(b"good"), labels=(7, 2), truth=(7, 2), weight=4),
             soak.Case("bad", False, request(b"bad"), status=400),
             soak.Case("empty 413", False, request(b"empty"), status=413)]
    load = soak.Load(port, cases, 4, random.Random(0))
    try:
        now = time.monotonic()
        load.run(now + 0.2, now + 1.2)
    finally:
        server.shutdown()
        server.server_close()
    kinds, tally = load.tally.kinds, load.tally
    assert all(kinds[name]["requests"] > 5 for name in ("good", "bad", "empty 413")), kinds
    assert kinds["good"]["errors"] == kinds["bad"]["errors"] == 0
    assert kinds["bad"]["closed"] == kinds["bad"]["requests"] and kinds["good"]["closed"] == 0
    assert tally.errors == {"empty 413: no JSON message": kinds["empty 413"]["requests"]}
    assert load.reconnects >= kinds["bad"]["requests"] and load.stopped is None
    assert tally.images == tally.correct == 2 * kinds["good"]["requests"]

    samples = [{"t": 0.0, "phase": "start", "usage": 100, "usage_with_cache": 120, "anon": 90,
                "rss_sum": 200},
               {"t": 5.0, "phase": "end", "usage": 105, "usage_with_cache": 130, "anon": 95, "rss_sum": 210}]
    summary = soak.summarise(tally, load, samples, samples[0], 1.0, 0.2, 0)
    assert summary["goals"] == {"no_valid_errors": True, "every_bad_a_4xx_with_a_message": False,
                                "memory_growth_under_10_percent": True}
    assert summary["memory"]["growth"]["usage"] == pytest.approx(0.05)
    assert summary["valid"]["accuracy"] == 1.0 and summary["bad"]["kinds"] == 2

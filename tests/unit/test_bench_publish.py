"""The benchmark tables in README.md and bench/*.md are what bench/publish.py makes of the
committed results in bench/results/, and publish.py renders them from the results' data.

A document edited by hand, or a result committed without `python bench/publish.py`, fails here.
"""
import copy
import datetime
import importlib.util
import io
import json
import sys

import pytest

from support import REPO

pytestmark = pytest.mark.unit


def _load(name):
    spec = importlib.util.spec_from_file_location("bench_" + name, REPO / "bench" / ("%s.py" % name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


publish = _load("publish")
serve_compare = _load("serve_compare")  # what serve_speed.py writes its comparisons with
BASELINE = "666cce5"
RESULTS = REPO / publish.RESULTS


# --- The committed documents

def test_the_documents_are_what_the_committed_results_give():
    out = io.StringIO()
    changed = publish.publish(REPO, check=True, out=out)
    assert not changed, ("%s differ from what bench/results/ gives; run python bench/publish.py "
                         "(and commit the results with the documents):\n%s" % (", ".join(changed), out.getvalue()))


def test_every_renderer_has_a_region_and_every_region_a_renderer():
    names = set()
    for path in publish.documents(REPO):
        names.update(publish.regions(path.read_text()))
    assert names == set(publish.RENDERERS), "regions without a renderer: %s; renderers without a region: %s" % (
        sorted(names - set(publish.RENDERERS)), sorted(set(publish.RENDERERS) - names))


def test_every_committed_result_is_read_by_a_renderer():
    sources = {renderer.source for renderer in publish.RENDERERS.values()}
    committed = {path.stem for path in RESULTS.glob("*.json")}
    assert committed <= sources, "results no table shows: %s" % sorted(committed - sources)


# --- Rendering from the data

def _provenance(bench, **machine):
    return {
        "bench": bench, "schema": publish.SCHEMA, "date": "2026-12-01T10:00:00Z",
        "commit": {"sha": "0123456789abcdef0123456789abcdef01234567", "dirty": False, "changed": []},
        "machine": dict({"cpu": "AMD EPYC", "cores": 2, "memory_gib": 8.0, "virtualization": "kvm",
                         "kernel": "6.1", "python": "3.11.7"}, **machine),
        "command": ["bench/%s.py" % bench], "arguments": {},
        "load_average": {"before": [0.5, 0.4, 0.3], "after": [1.5, 1.0, 0.5]}, "seconds": 600.0,
    }


def _train_speed():
    def run(seed, epochs, accuracies, seconds):
        history = [{"epoch": i + 1.0, "test_accuracy": a, "train_seconds": seconds * (i + 1) / epochs}
                   for i, a in enumerate(accuracies)]
        reached = next((h["train_seconds"] for h in history if h["test_accuracy"] >= 0.99), None)
        return {"seed": seed, "epochs": epochs, "time_to_target": reached, "final_accuracy": accuracies[-1],
                "train_seconds": seconds, "process_seconds": seconds + 6, "history": history}

    groups = [("ours, preset fast", "fast", [run(0, 1, [0.9921], 5.1), run(1, 1, [0.9917], 4.9)]),
              ("%s, preset fast" % BASELINE, "fast", [run(0, 1, [0.9921], 5.4), run(1, 1, [0.9917], 5.2)]),
              ("baseline (pytorch/examples, cap 2 epochs)", "baseline", [run(1, 2, [0.985, 0.9905], 120.0)])]
    summaries = []
    for name, kind, runs in groups:
        times = [r["time_to_target"] for r in runs]
        summary = {"name": name, "kind": kind, "seeds": [r["seed"] for r in runs], "reached": "%d/%d" % (
            len(runs), len(runs)), "median_time_to_target": sorted(times)[len(times) // 2],
            "times_to_target": times, "final_accuracies": [r["final_accuracy"] for r in runs],
            "mean_final_accuracy": sum(r["final_accuracy"] for r in runs) / len(runs),
            "epochs": [r["epochs"] for r in runs], "train_seconds": [r["train_seconds"] for r in runs],
            "process_seconds": [r["process_seconds"] for r in runs]}
        if kind == "baseline":
            summary["epoch_cap"] = 2
        if name.startswith(BASELINE):
            summary["tree"] = BASELINE
        summaries.append(summary)
    versus = {"time_to_target": {"ratio": 4.9 / 5.2, "per_seed": [5.1 / 5.4, 4.9 / 5.2]},
              "final_accuracy": {"difference": 0.0, "per_seed": [0.0, 0.0]}}
    result = _provenance("train_speed", torch="2.14.1", device="CPU only", omp_wait_policy="unset")
    result.update(summary={"groups": summaries, "baseline_time_to_target": 120.0, "baseline_tree": {
                      "name": BASELINE, "sha": BASELINE + "4" * 33, "presets": {"fast": versus}}},
                  data={"target": 0.99, "groups": [{"name": n, "kind": k, "runs": r} for n, k, r in groups],
                        "baseline_tree": {"name": BASELINE, "sha": BASELINE + "4" * 33, "dirty": False}})
    return result


NO_AFFINITY = "ours, no affinity"
PATHS = ("ours", "stock", NO_AFFINITY, BASELINE)


def _serve_speed():
    # Each path's rate relative to ours, and its p50 (ms); the p99 is 3x the p50.
    shares = {NO_AFFINITY: (0.9, 1.6), BASELINE: (0.98, 1.5)}

    def cell(ours, stock, latency=True):
        rates = {"ours": (ours, 1.5), "stock": (stock, 4.0)}
        rates.update((name, (ours * share, p50)) for name, (share, p50) in shares.items())
        entry = {name: {"rate": rate, "requests": 100} for name, (rate, _) in rates.items()}
        if latency:
            for name, (_, p50) in rates.items():
                entry[name].update(p50_ms=p50, p99_ms=3 * p50)
        return entry

    orders = [PATHS[i:] + PATHS[:i] for i in range(3)]
    rounds = [{"first": order[0], "order": list(order),
               "cells": {"c1": cell(c1, 240.0), "c8": cell(1500.0, 650.0),
                         "batch": cell(8600.0, 1200.0, latency=False)},
               "limits": {"ours": {"single_req_s": 1300.0, "batch_images_s": 4300.0},
                          "stock": {"single_req_s": 630.0, "batch_images_s": 630.0}}}
              for order, c1 in zip(orders, (530.0, 550.0, 540.0))]
    summary = {}
    for key, unit in (("c1", "req/s"), ("c8", "req/s"), ("batch", "images/s")):
        rates = {name: sorted(r["cells"][key][name]["rate"] for r in rounds) for name in ("ours", "stock")}
        ours, stock = rates["ours"][1], rates["stock"][1]
        paired = [r["cells"][key]["ours"]["rate"] / r["cells"][key]["stock"]["rate"] for r in rounds]
        entry = {"unit": unit, "ours": ours, "stock": stock, "ratio": ours / stock,
                 "paired_ratio": {"median": sorted(paired)[1], "rounds": paired},
                 "fraction_of_limit": {"ours": 0.4, "stock": 0.38}}
        if key != "batch":
            entry.update(p50_ms={"ours": 1.5, "stock": 4.0}, p99_ms={"ours": 4.5, "stock": 12.0})
        summary[key] = entry
    summary["in_process_limit"] = {"single_req_s": {"ours": 1300.0, "stock": 630.0},
                                   "batch_images_s": {"ours": 4300.0, "stock": 630.0}}
    colds = {"ours": [[7.0, 7.1], [4.2, 4.2], [4.2, 4.3]], "stock": [[2.8, 5.7], [2.7, 5.6], [2.9, 5.8]],
             BASELINE: [[7.2, 7.3], [4.3, 4.3], [4.1, 4.2]]}
    summary["cold_start_s"] = {name: {"ping_200": sorted(p for p, _ in runs)[1],
                                      "first_answer": sorted(a for _, a in runs)[1], "runs": runs}
                               for name, runs in colds.items()}
    # As serve_speed.py makes them, from each round's (rate, p50, p99) per path.
    cells = {(name, key): [tuple(r["cells"][key][name].get(f, 0) for f in ("rate", "p50_ms", "p99_ms"))
                           for r in rounds]
             for name in PATHS for key in ("c1", "c8", "batch")}
    summary["comparisons"] = [serve_compare.compare(cells, colds, "ours", BASELINE, "baseline"),
                              serve_compare.compare(cells, colds, "ours", NO_AFFINITY, "variant")]
    result = _provenance("serve_speed", torch="2.14.1", device="CPU only", java='openjdk version "17.0.15"')
    image = {"name": "mnist-pytorch-inference:latest", "id": "sha256:" + "a" * 64,
             "tags": ["mnist-pytorch-inference:0123456", "mnist-pytorch-inference:latest"]}
    result.update(summary=summary, data={
        "width": 16, "workers": 2, "cores": 2, "batch_rows": 1000, "batch_bytes": 1800000,
        "seconds_per_cell": 5.0, "warmup_s": 90.0, "image": image, "paths": list(PATHS), "rounds": rounds,
        "cold_starts": colds, "baseline_tree": {"name": BASELINE, "sha": BASELINE + "4" * 33, "dirty": False},
        "baseline_image": dict(image, name="mnist-pytorch-inference:" + BASELINE, id="sha256:" + "b" * 64,
                               tags=["mnist-pytorch-inference:" + BASELINE])})
    return result


def _image_sizes():
    def image(name, own):
        layers = [{"digest": "sha256:base", "size_bytes": 300_000_000},
                  {"digest": "sha256:torch", "size_bytes": 5_800_000_000},
                  {"digest": "sha256:" + name, "size_bytes": own}]
        return {"name": "mnist-pytorch-%s:latest" % name, "id": "sha256:" + name,
                "tags": ["mnist-pytorch-%s:0123456" % name], "size_bytes": sum(l["size_bytes"] for l in layers),
                "layers": layers}

    images = {"training": image("training", 340_000_000), "inference": image("inference", 590_000_000)}
    result = _provenance("image_sizes", docker="20.10.24")
    result.update(summary={"size_bytes": {k: v["size_bytes"] for k, v in images.items()},
                           "common_layers": {"layers": 2, "size_bytes": 6_100_000_000}},
                  data={"images": images})
    return result


def _cold_start():
    names = ("mnist-pytorch-inference:latest", "mnist-pytorch-inference-cpu:latest")
    phases = {"serve_up": 0.5, "mms_launched": 1.0, "jvm_up": 2.3, "torch_imported": 2.4}
    runs = {names[0]: [[2.5, 2.7, phases], [2.4, 2.6, phases]], names[1]: [[1.1, 1.2, phases], [1.0, 1.3, phases]]}
    result = _provenance("cold_start", docker="20.10.24")
    result.update(summary={name: {"ping_200": found[0][0], "first_answer": found[0][1], "phases": phases,
                                  "size_bytes": 1_480_000_000 if name.endswith("cpu:latest") else 6_690_000_000}
                           for name, found in runs.items()},
                  data={"images": [{"name": name, "id": "sha256:" + name, "tags": [name.replace("latest", "0123456")]}
                                   for name in names], "runs": runs, "goal_s": 1.5})
    return result


def _fresh_clone(bench="fresh_clone"):
    steps = [{"command": "scripts/local.sh", "seconds": 1100.0, "returncode": 0, "tail": ["ok"]},
             {"command": "scripts/test.sh", "seconds": 1500.0, "returncode": 0, "tail": ["520 passed"]}]
    result = _provenance(bench)
    result.update(summary={"ok": True, "seconds": {s["command"]: s["seconds"] for s in steps}},
                  data={"machine_before": {"docker_engine_answers": False, "images_cached": [], "java": True},
                        "steps": steps})
    return result


def _soak():
    def kind(valid, expected, requests, errors=0, other=0, closed=0):
        return {"valid": valid, "expected": expected, "requests": requests, "errors": errors,
                "other_status": other, "closed": closed, "p50_ms": 38.0, "p99_ms": 105.0}

    memory = {"usage": 831 * 2**20, "usage_with_cache": 841 * 2**20, "anon": 808 * 2**20,
              "rss_sum": 1983 * 2**20}
    end = {name: int(value * 1.034) for name, value in memory.items()}
    summary = {
        "seconds": 600.0, "warmup_s": 30.0, "concurrency": 32, "requests": 480000,
        "measured_requests": 450000, "rate_req_s": 750.0,
        "valid": {"kinds": 2, "requests": 390000, "errors": 0, "images": 1170000, "accuracy": 0.9663,
                  "p50_ms": 38.3, "p99_ms": 105.2},
        "bad": {"kinds": 2, "requests": 90000, "errors": 1200},
        "errors": {"three times the payload limit: no JSON message": 1200},
        "other_statuses": {"GET /invocations: 400 instead of 405": 4800},
        "reconnects": 88000, "backend_deaths": 0, "stopped_early": None,
        "memory": {"start": memory, "end": end, "growth": {name: 0.034 for name in memory},
                   "peak_usage": end["usage"], "start_t": 30.0, "end_t": 630.0},
        "kinds": {"CSV": kind(True, 200, 200000), "gzip JSON": kind(True, 200, 190000),
                  "GET /invocations": kind(False, 405, 4800, other=4800, closed=4800),
                  "three times the payload limit": kind(False, 413, 1200, errors=1200, closed=1200)},
        "goals": {"no_valid_errors": True, "every_bad_a_4xx_with_a_message": False,
                  "memory_growth_under_10_percent": True},
    }
    result = _provenance("soak", torch="2.14.1", device="CPU only", docker="20.10.24")
    image = {"name": "mnist-pytorch-inference:latest", "id": "sha256:" + "c" * 64,
             "tags": ["mnist-pytorch-inference:0123456", "mnist-pytorch-inference:latest"]}
    result.update(summary=summary, data={"image": image, "model": {"trained_here": {"width": 16}},
                                         "max_payload_mb": 6, "mix": [], "memory_samples": [],
                                         "error_samples": {}, "log_tail": []})
    return result


def _printed_digits():
    def runs(with_printed):
        return {"final_accuracy": 0.9962, "time_to_target": 9.5, "held_out_accuracy": 0.9951,
                **({"held_out_kind_accuracy": 0.999, "test_kind_accuracy": 0.9991} if with_printed else {})}

    group = {"preset": "default", "seeds": [0], "printed_share": 0.2, "with_printed": runs(True),
             "without": dict(runs(False), held_out_accuracy=0.973),
             "time_ratio": {"median": 1.04, "per_seed": [1.04]}}
    summary = {"groups": [group], "targets": {"mnist": 0.996, "printed": 0.995, "kind": 0.995, "fast_time_ratio": 1.1},
               "goals": {"mnist": True, "printed": True, "kind_mnist": True, "kind_printed": True},
               "held_out": {"digits": 3000, "fonts": ["C059-Roman.otf"], "packages": ["fonts-urw-base35"]}}
    result = _provenance("printed_digits", torch="2.14.1", device="CPU only")
    result.update(summary=summary, data={"groups": []})
    return result


def test_the_printed_digits_table_names_the_fonts_the_kind_head_misses_when_measured():
    result = _printed_digits()
    assert "most often takes for handwriting" not in publish.printed_digits(result)
    result["summary"]["weakest_fonts"] = {
        "preset": "default", "seed": 0, "per_font": 50,
        "held_out": [{"font": "URWGothic-Book.otf", "digit_accuracy": 0.98, "kind_accuracy": 0.66}],
        "training": [{"font": "FreeSans.ttf", "digit_accuracy": 0.96, "kind_accuracy": 0.9}]}
    text = publish.printed_digits(result)
    assert "held out: URWGothic-Book 66%; of the job's own: FreeSans 90%." in text, text


def _fine_tuning():
    scores = {"style": 0.735, "mnist": 0.9961, "printed": 0.9953}
    group = {"mnist_share": 0.9, "seeds": [0, 1], "after": {"style": 0.99, "mnist": 0.996, "printed": 0.99},
             "train_seconds": 2.0, "process_seconds": 10.4, "training_digits": 5000}
    summary = {"before": {"preset": "default", "seed": 0, "scores": scores, "train_seconds": 300.0,
                          "process_seconds": 320.0, "epochs": 12},
               "groups": [group], "style": {"name": "seven-segment display", "train": 500, "held_out": 2000},
               "printed": {"digits": 1000, "packages": ["fonts-urw-base35"]}}
    result = _provenance("fine_tuning", torch="2.14.1", device="CPU only")
    result.update(summary=summary, data={"runs": []})
    return result


def _image_serving():
    def figure(cell, name, unit, better, cpu, cuda):
        return {"cell": cell, "figure": name, "unit": unit, "better": better,
                "values": {"CPU image": cpu, "CUDA image": cuda}, "ratio": cpu / cuda,
                "paired": {"median": cpu / cuda, "rounds": [cpu / cuda, 1.0]}}

    comparison = {"ours": "CPU image", "other": "CUDA image", "kind": "baseline",
                  "figures": [figure("c1", "rate", "req/s", "higher", 700.0, 690.0),
                              figure("c1", "p50_ms", "ms", "lower", 1.4, 1.4),
                              figure("batch", "rate", "images/s", "higher", 9000.0, 9100.0)]}
    image = {"name": "mnist-pytorch-inference-cpu:latest", "id": "sha256:" + "d" * 64,
             "tags": ["mnist-pytorch-inference-cpu:0123456"], "size_bytes": 1_480_000_000}
    summary = {"comparison": comparison, "memory": {"CPU image": "800MiB / 23GiB", "CUDA image": "900MiB / 23GiB"},
               "tolerance": 0.05, "same_figures": True,
               "images": {"CPU image": image, "CUDA image": dict(image, name="mnist-pytorch-inference:latest")}}
    result = _provenance("image_serving", torch="2.14.1", device="CPU only", docker="20.10.24")
    result.update(summary=summary, data={"width": 16, "rounds": [{}, {}], "seconds_per_figure": 5.0,
                                         "warmup_s": 60.0})
    return result


SAMPLES = {"printed_digits": _printed_digits, "image_serving": _image_serving, "fine_tuning": _fine_tuning, "train_speed": _train_speed, "serve_speed": _serve_speed, "image_sizes": _image_sizes,
           "fresh_clone": _fresh_clone, "fresh_clone_cold": lambda: _fresh_clone("fresh_clone_cold"),
           "soak": _soak, "cold_start": _cold_start}
# One number in each result, and how the renderers must show it once changed.
CHANGES = {
    "train_speed": (("summary", "groups", 0, "median_time_to_target"), 987.6, "987.6"),
    "serve_speed": (("summary", "c1", "ours"), 4321.0, "4,321"),
    "image_sizes": (("data", "images", "inference", "size_bytes"), 7_770_000_000, "7.77 GB"),
    "fresh_clone": (("data", "steps", 1, "seconds"), 1234.0, "20 min 34 s"),
    "fresh_clone_cold": (("data", "steps", 0, "seconds"), 754.0, "12 min 34 s"),
    "soak": (("summary", "valid", "p99_ms"), 432.1, "432.1 ms"),
    "cold_start": (("data", "goal_s"), 9.75, "the 9.75 s goal"),
    "printed_digits": (("summary", "groups", 0, "with_printed", "held_out_accuracy"), 0.9876, "98.76%"),
    "fine_tuning": (("summary", "groups", 0, "after", "style"), 0.9123, "91.23%"),
    "image_serving": (("summary", "memory", "CPU image"), "432.1MiB / 23GiB", "432.1MiB / 23GiB"),
}


def _result(source):
    """The committed result where there is one, else a sample of the same layout."""
    path = RESULTS / ("%s.json" % source)
    return json.loads(path.read_text()) if path.exists() else SAMPLES[source]()


def _set(document, keys, value):
    for key in keys[:-1]:
        document = document[key]
    document[keys[-1]] = value


def test_there_is_a_sample_of_every_result_a_renderer_reads():
    sources = {renderer.source for renderer in publish.RENDERERS.values()}
    assert sources <= set(SAMPLES) and set(CHANGES) == set(SAMPLES)


@pytest.mark.parametrize("name", sorted(publish.RENDERERS))
def test_a_table_is_rendered_from_the_results_data(name, tmp_path):
    source = publish.RENDERERS[name].source
    result = _result(source)
    (tmp_path / ("%s.json" % source)).write_text(json.dumps(result))
    before = publish.render(name, tmp_path)
    assert result["commit"]["sha"][:7] in before

    keys, value, shown = CHANGES[source]
    changed = copy.deepcopy(result)
    _set(changed, keys, value)
    changed["table"] = result.get("table", "")  # the stored table is not what is rendered
    (tmp_path / ("%s.json" % source)).write_text(json.dumps(changed))
    after = publish.render(name, tmp_path)
    assert after != before and shown in after and shown not in before


@pytest.mark.parametrize("name", sorted(publish.RENDERERS))
def test_the_sentence_under_a_table_says_where_when_and_under_what_load(name):
    result = _result(publish.RENDERERS[name].source)
    result = copy.deepcopy(result)
    result["commit"].update(dirty=True, changed=["code/sagemaker_mnist/model.py"])
    result["load_average"] = {"before": [3.25, 0, 0], "after": [4.75, 0, 0]}
    text = publish.render_result(name, result)
    for part in (result["date"][:10], result["commit"]["sha"][:7], "uncommitted changes (code/sagemaker_mnist/model.py)",
                 result["machine"]["cpu"], "3.25 before, 4.75 after"):
        assert part in text, part


def test_the_serving_aims_are_judged_from_the_numbers():
    result = _serve_speed()
    assert "**not met**" not in publish.serve_speed(result)
    result["summary"]["c8"]["paired_ratio"]["median"] = 1.9
    assert "paired 1.90x: **not met**" in publish.serve_speed(result)


def _figure(result, other, cell, figure):
    comparison = next(c for c in result["summary"]["comparisons"] if c["other"] == other)
    return next(f for f in comparison["figures"] if (f["cell"], f["figure"]) == (cell, figure))


@pytest.mark.parametrize("name", ["serve_speed", "serve_speed_summary"])
def test_ours_against_an_earlier_commit_is_judged_figure_by_figure(name):
    result = _serve_speed()
    text = publish.render_result(name, result)
    assert "| | ours | %s | ours / %s |" % (BASELINE, BASELINE) in text
    assert "single JSON image, concurrency 1 (req/s) | 540 | 529 | 1.02x" in text
    assert "Every figure within 5%% of %s or better: met." % BASELINE in text
    assert "cold start: `docker run` to /ping 200 | 4.2 s | 4.3 s" in text
    # 4% slower is within 5%; 6% is not, and neither is a latency 6% longer.
    _figure(result, BASELINE, "c8", "rate")["paired"]["median"] = 0.96
    assert "**not met**" not in publish.render_result(name, result)
    _figure(result, BASELINE, "c8", "rate")["paired"]["median"] = 0.94
    _figure(result, BASELINE, "c1", "p99_ms")["paired"]["median"] = 1.06
    text = publish.render_result(name, result)
    assert "within 5%% of %s or better: **not met** (2 of 9 figures)" % BASELINE in text
    assert "| 0.94x (1.02-1.02) | **no** |" in text


def test_ours_against_ours_without_worker_affinity_says_where_it_was_ahead_round_by_round():
    result = _serve_speed()
    text = publish.serve_speed(result)
    assert "| | ours | %s | ours / %s |" % (NO_AFFINITY, NO_AFFINITY) in text
    assert ("single JSON image, concurrency 8 (req/s) | 1,500 | 1,350 | 1.11x | 1.11x (1.11-1.11) "
            "| better in every round |") in text
    # Latencies: lower is better (ours 1.5 ms, without affinity 1.6 ms).
    assert "p50 latency, concurrency 1 | 1.5 ms | 1.6 ms | 0.94x" in text
    entry = _figure(result, NO_AFFINITY, "c1", "rate")
    entry["paired"]["rounds"] = [1.05, 0.97, 1.01]
    assert "better in 2 of 3 rounds" in publish.serve_speed(result)
    entry["paired"]["rounds"] = [0.95, 0.97, 0.99]
    assert "**worse in every round**" in publish.serve_speed(result)


def test_a_result_without_the_comparisons_shows_none():
    result = _serve_speed()
    data = result["data"]
    del result["summary"]["comparisons"], data["baseline_tree"], data["baseline_image"]
    del data["cold_starts"][BASELINE], result["summary"]["cold_start_s"][BASELINE]
    for name in ("serve_speed", "serve_speed_summary"):
        text = publish.render_result(name, result)
        assert BASELINE not in text and NO_AFFINITY not in text


@pytest.mark.parametrize("name", ["train_speed", "train_speed_summary"])
def test_the_trainer_against_an_earlier_commits_trainer(name):
    result = _train_speed()
    text = publish.render_result(name, result)
    assert "| fast | 0.94x (0.94, 0.94) | +0.00 points (+0.00, +0.00) |" in text
    assert BASELINE in text.split("\n")[3]  # its runs are rows of the table too
    del result["summary"]["baseline_tree"]
    assert "ours / %s" % BASELINE not in publish.render_result(name, result)


def test_the_soaks_goals_are_judged_from_the_numbers():
    result = _soak()
    text = publish.soak(result)
    assert "no error on a valid request (0 of 390,000: met)" in text
    assert "(1,200 of 90,000 not: **not met**)" in text
    assert "(+3.4%: met)" in text
    assert "three times the payload limit: no JSON message (1,200)" in text
    assert "not the 4xx they should get (not errors): GET /invocations: 400 instead of 405 (4,800)" in text
    result["summary"]["goals"]["memory_growth_under_10_percent"] = False
    result["summary"]["memory"]["growth"]["usage"] = 0.125
    assert "(+12.5%: **not met**)" in publish.soak(result)


def test_a_missing_result_is_said_so_instead_of_old_numbers(tmp_path):
    text = "intro\n<!-- bench:serve_speed -->\n| old | 539 req/s |\n<!-- /bench:serve_speed -->\nend\n"
    new = publish.regenerate(text, tmp_path)
    assert "539" not in new and "Not measured yet" in new and "bench/results/serve_speed.json" in new
    assert new.startswith("intro\n<!-- bench:serve_speed -->\n") and new.endswith("<!-- /bench:serve_speed -->\nend\n")


# --- publish.py on a tree of its own

def _tree(tmp_path):
    root = tmp_path / "repo"
    (root / "bench" / "results").mkdir(parents=True)
    (root / "README.md").write_text("# x\n\n<!-- bench:image_sizes -->\nstale\n<!-- /bench:image_sizes -->\n")
    (root / "bench" / "serve_speed.md").write_text(
        "`<!-- bench:NAME -->` in prose is no marker.\n\n<!-- bench:serve_speed -->\n<!-- /bench:serve_speed -->\n")
    return root


def test_check_names_the_files_that_differ_and_publish_rewrites_them(tmp_path):
    root = _tree(tmp_path)
    (root / "bench" / "results" / "image_sizes.json").write_text(json.dumps(_image_sizes()))
    out = io.StringIO()
    assert publish.publish(root, check=True, out=out) == ["README.md", "bench/serve_speed.md"]
    assert "stale" in (root / "README.md").read_text() and "-stale" in out.getvalue()
    assert publish.publish(root) == ["README.md", "bench/serve_speed.md"]
    readme = (root / "README.md").read_text()
    assert "6.69 GB" in readme and "stale" not in readme  # the inference image: 0.3 + 5.8 + 0.59 GB
    assert publish.publish(root, check=True) == []


@pytest.mark.parametrize("text, message", [
    ("<!-- bench:image_sizes -->\nno end\n", "without its pair"),
    ("<!-- bench:image_sizes -->\n<!-- /bench:serve_speed -->\n", "without its pair"),
    ("<!-- bench:no_such_bench -->\n<!-- /bench:no_such_bench -->\n", "no renderer for bench:no_such_bench"),
])
def test_a_broken_region_stops_publish_before_it_writes_anything(tmp_path, text, message):
    root = _tree(tmp_path)
    readme = (root / "README.md").read_text()
    (root / "bench" / "serve_speed.md").write_text(text)
    with pytest.raises(publish.PublishError, match=message):
        publish.publish(root)
    assert (root / "README.md").read_text() == readme


def test_a_result_of_another_layout_is_refused(tmp_path):
    root = _tree(tmp_path)
    result = _image_sizes()
    result["schema"] = publish.SCHEMA + 1
    (root / "bench" / "results" / "image_sizes.json").write_text(json.dumps(result))
    with pytest.raises(publish.PublishError, match="schema"):
        publish.publish(root, check=True)


def test_the_command_line_check_fails_naming_the_file(tmp_path, monkeypatch, capsys):
    root = _tree(tmp_path)
    monkeypatch.setattr(publish, "REPO", root)
    with pytest.raises(SystemExit) as stopped:
        publish.main(["--check"])
    assert "README.md" in str(stopped.value) and "run python bench/publish.py" in str(stopped.value)
    publish.main([])
    publish.main(["--check"])
    assert "checked: nothing to change" in capsys.readouterr().out


def test_the_cpu_image_cold_start_is_judged_against_its_goal():
    result = _cold_start()
    assert "1.20 s after `docker run`: within the 1.5 s goal" in publish.cold_start(result)
    result["summary"]["mnist-pytorch-inference-cpu:latest"]["first_answer"] = 1.7
    assert "**not within** the 1.5 s goal" in publish.cold_start(result)


def test_the_floor_under_a_cold_start_is_judged_against_the_goal():
    result = _cold_start()
    assert "The floor under a cold start" not in publish.cold_start(result)
    cpu = result["summary"]["mnist-pytorch-inference-cpu:latest"]
    cpu["floor"] = {"to_entrypoint": 0.33, "torch_import": 1.31, "total": 1.64}
    text = publish.cold_start(result)
    assert ("`mnist-pytorch-inference-cpu:latest`: `docker run` to the container's first command 0.33 s, "
            "`import torch` alone 1.31 s; together 1.64 s, **over** the 1.5 s goal") in text
    cpu["floor"] = {"to_entrypoint": 0.2, "torch_import": 0.9, "total": 1.1}
    assert "together 1.10 s, within the 1.5 s goal" in publish.cold_start(result)


def test_a_cold_starts_cpu_seconds_are_shown_by_process_and_against_the_cores():
    result = _cold_start()
    assert "CPU seconds by the first answer" not in publish.cold_start(result)
    result["summary"]["mnist-pytorch-inference-cpu:latest"]["cpu_s"] = {"jvm": 1.7, "preloader": 1.4, "serve": 0.5,
                                                                         "other": 0.1}
    result["machine"]["cores"] = 2
    text = publish.cold_start(result)
    assert "| CPU seconds by the first answer: MMS's JVM | - | 1.70 |" in text
    assert "| CPU seconds by the first answer: the rest | - | 0.10 |" in text
    assert "on 2 cores, all of them (3.70 s for `mnist-pytorch-inference-cpu:latest`) take at least 1.85 s" in text


def _cold_start_module():
    """bench/cold_start.py, which imports its neighbours (provenance) as a script does."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        return _load("cold_start")
    finally:
        sys.path.remove(str(REPO / "bench"))


def test_cpu_seconds_are_summed_by_the_process_that_used_them():
    cold_start = _cold_start_module()
    text = "\n".join(["100", "150 20 java -Dmodel_server_home=/opt/venv -cp . com.amazonaws.ml.mms.ModelServer",
                      "130 8 /opt/venv/bin/python3 -m sagemaker_mnist_container.preload /tmp/mnist-preload-1.sock ",
                      "2 0 /opt/venv/bin/python3 -m sagemaker_mnist_container.preload /tmp/mnist-preload-1.sock ",
                      "40 8 python3 -m sagemaker_mnist_container.serving ", "5 0 python3 -c import sys ",
                      "0 0 sh -c getconf CLK_TCK; for p in /proc/[0-9]*; do", "sys.path.sort(key=lambda e: e)"])
    assert cold_start.cpu_by_owner(text) == {"jvm": 1.7, "preloader": 1.4, "serve": 0.48, "other": 0.05}
    assert cold_start.cpu_by_owner("") is None


def test_the_floors_medians_add_up_and_a_failed_measurement_is_left_out():
    cold_start = _cold_start_module()
    measured = [{"to_entrypoint": 0.3, "torch_import": 1.2}, None, {"to_entrypoint": 0.5, "torch_import": 1.4},
                {"to_entrypoint": 0.4, "torch_import": 1.0}]
    assert cold_start._floor(measured) == {"to_entrypoint": 0.4, "torch_import": 1.2, "total": 1.6}
    assert cold_start._floor([None]) is None


def test_a_cold_starts_phases_are_read_from_the_containers_timestamped_log():
    cold_start = _cold_start_module()
    log = "\n".join([
        "2026-12-03T10:18:29.151252241Z 2026-12-03 10:18:29,150 [INFO] serve - serving one model on port 8080",
        "2026-12-03T10:18:30.012275707Z 2026-12-03 10:18:30,011 [INFO] sagemaker-inference - "
        "['multi-model-server', '--start']",
        "2026-12-03T10:18:31.942554756Z 2026-12-03 10:18:31,942 [INFO] preload - imported torch and the handlers",
        "2026-12-03T10:18:32.052124646Z Model server started.",
        "2026-12-03T10:18:33.000000000Z Model server started.",  # only the first line of a phase counts
    ])
    wall = datetime.datetime(2026, 12, 3, 10, 18, 28, 607148, tzinfo=datetime.timezone.utc).timestamp()
    assert cold_start.log_phases(log, wall) == {"serve_up": 0.544, "mms_launched": 1.405, "torch_imported": 3.335,
                                                "jvm_up": 3.445}

"""The benchmark tables of README.md and bench/*.md, generated from the committed results.

Every speed or size the documentation publishes comes from a file in bench/results/, written by
a bench script (bench/provenance.py: the commit, machine, load and raw data with it) and
committed. Each table sits between two markers, and everything between them is generated:

    <!-- bench:serve_speed -->
    ...
    <!-- /bench:serve_speed -->

    python bench/publish.py           # rewrites the marked regions from bench/results/*.json
    python bench/publish.py --check   # rewrites nothing; exits 1 naming the files that differ

A renderer is a function from a result (its JSON, loaded) to markdown, registered under the
marker's name; it reads bench/results/<source>.json, the name itself unless `source` says
otherwise:

    @renderer("fresh_clone")
    def fresh_clone(result):
        return "| step | seconds |\\n|---|---:|\\n" + ...

A region whose result file is missing says so, and names the command that measures it, instead
of keeping numbers from an earlier run. Standard library only: the unit tests and CI need nothing
else to check the documents.
"""
import argparse
import collections
import difflib
import json
import pathlib
import re
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
RESULTS = "bench/results"
SCHEMA = 1  # the layout bench/provenance.py writes and the renderers read

Renderer = collections.namedtuple("Renderer", "function source")
RENDERERS = {}

# A marker is a line of its own, so that prose can name one in backticks.
_OPENING = re.compile(r"^<!-- bench:([\w.-]+) -->$", re.M)
_CLOSING = re.compile(r"^<!-- /bench:([\w.-]+) -->$", re.M)
_REGION = re.compile(r"^(<!-- bench:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)^(<!-- /bench:(?P=name) -->)$", re.S | re.M)


class PublishError(Exception):
    pass


def renderer(name, source=None):
    """Registers `function(result) -> markdown` for the regions marked `name`."""
    def register(function):
        RENDERERS[name] = Renderer(function, source or name)
        return function
    return register


# --- Reading results and filling regions

def load_result(source, results):
    """The result bench/results/<source>.json as a dict, or None when there is no such file."""
    path = pathlib.Path(results) / ("%s.json" % source)
    if not path.exists():
        return None
    try:
        result = json.loads(path.read_text())
    except ValueError as e:
        raise PublishError("%s is not JSON: %s" % (path, e))
    if result.get("schema") != SCHEMA or result.get("bench") != source:
        raise PublishError("%s: expected a %s result of schema %d, found bench %r, schema %r"
                           % (path, source, SCHEMA, result.get("bench"), result.get("schema")))
    return result


def render_result(name, result):
    return RENDERERS[name].function(result).strip() + "\n"


def render(name, results):
    if name not in RENDERERS:
        raise PublishError("no renderer for bench:%s (known: %s)" % (name, ", ".join(sorted(RENDERERS))))
    source = RENDERERS[name].source
    result = load_result(source, results)
    if result is None:
        return not_measured(source)
    return render_result(name, result)


def not_measured(source):
    return ("*Not measured yet: there is no committed `%s/%s.json`. `python bench/%s.py` measures it, "
            "then `python bench/publish.py` writes it here.*\n" % (RESULTS, source, source))


def regions(text):
    """The names of the marked regions in `text`, in order; an opening without its closing is an error."""
    names = [match.group("name") for match in _REGION.finditer(text)]
    opened, closed = _OPENING.findall(text), _CLOSING.findall(text)
    if opened != names or closed != names:
        unmatched = [name for name in opened + closed if (opened + closed).count(name) != 2 * names.count(name)]
        raise PublishError("<!-- bench:%s --> without its pair, each on a line of its own" % unmatched[0]
                           if unmatched else "nested or overlapping bench markers")
    return names


def regenerate(text, results):
    """`text` with every marked region rewritten from the results."""
    regions(text)
    return _REGION.sub(lambda m: m.group(1) + render(m.group("name"), results) + m.group(4), text)


def documents(root):
    root = pathlib.Path(root)
    return [root / "README.md"] + sorted((root / "bench").glob("*.md"))


def publish(root=REPO, check=False, results=None, out=sys.stdout):
    """Regenerates the documents under `root`; returns the paths (relative) whose text changed.
    With `check`, writes nothing and prints a diff of each."""
    root = pathlib.Path(root)
    results = pathlib.Path(results) if results else root / RESULTS
    changes = []  # every document is rendered before any is written: an error leaves all as they were
    for path in documents(root):
        text = path.read_text()
        try:
            new = regenerate(text, results)
        except PublishError as e:
            raise PublishError("%s: %s" % (path.relative_to(root), e))
        if new != text:
            changes.append((path, str(path.relative_to(root)), text, new))
    for path, name, text, new in changes:
        if check:
            out.writelines(difflib.unified_diff(text.splitlines(True), new.splitlines(True),
                                                name + " (committed)", name + " (from %s)" % RESULTS))
        else:
            path.write_text(new)
    return [name for _, name, _, _ in changes]



# --- Handwritten or printed: bench/printed_digits.py

def _percent_or_dash(x):
    return "-" if x is None else percent(x)


@renderer("printed_digits")
def printed_digits(result):
    summary = result["summary"]
    held = summary["held_out"]
    rows = ["| preset (seeds) | trainer | MNIST test accuracy | time to 99.0% (s) | held-out printed digits "
            "| kind: MNIST test | kind: held-out printed |", "|---|---|---:|---:|---:|---:|---:|"]
    for group in summary["groups"]:
        seeds = " ".join(str(s) for s in group["seeds"])
        on, off = group["with_printed"], group["without"]
        rows.append("| %s (%s) | with printed digits (printed-share %s) | %s | %s | %s | %s | %s |" % (
            group["preset"], seeds, group["printed_share"], _percent_or_dash(on["final_accuracy"]),
            seconds(on["time_to_target"]), _percent_or_dash(on["held_out_accuracy"]),
            _percent_or_dash(on["test_kind_accuracy"]), _percent_or_dash(on["held_out_kind_accuracy"])))
        as_shipped = ": the preset as it ships" if group.get("preset_printed_share", 1) == 0 else ""
        rows.append("| %s (%s) | MNIST only (printed-share 0%s) | %s | %s | %s | - | - |" % (
            group["preset"], seeds, as_shipped, _percent_or_dash(off["final_accuracy"]), seconds(off["time_to_target"]),
            _percent_or_dash(off["held_out_accuracy"])))
    ratios = ["%s preset: time to 99.0%% with printed digits over without, median %s (%s)"
              % (g["preset"], "-" if g["time_ratio"]["median"] is None else "%.2fx" % g["time_ratio"]["median"],
                 ", ".join("%.2f" % r for r in g["time_ratio"]["per_seed"]))
              for g in summary["groups"]]
    targets, met = summary["targets"], summary["goals"]
    names = {"mnist": "default preset MNIST >= %s" % percent(targets["mnist"], 1),
             "printed": "held-out printed digits >= %s" % percent(targets["printed"], 1),
             "kind_mnist": "kind on MNIST's test set >= %s" % percent(targets["kind"], 1),
             "kind_printed": "kind on held-out printed digits >= %s" % percent(targets["kind"], 1),
             "fast_reaches_99": "fast preset (as it ships) reaches 99.0%",
             "fast_time": "fast preset's (as it ships) time to 99.0%% within %d%% of MNIST only"
                          % round(100 * (targets["fast_time_ratio"] - 1))}
    verdicts = "; ".join("%s: %s" % (names[k], "met" if v else "**not met**") for k, v in met.items())
    about = ("Held out: %s printed digits rendered with the trainer's variations from %d fonts of %s, "
             "families no run trained on; each model answered them through the serving handlers."
             % (number(held["digits"]), len(held["fonts"]), " and ".join(held["packages"])))
    return ("\n".join(rows) + "\n\n" + ". ".join(ratios) + ".\n\nGoals: " + verdicts + ". " + about + "\n\n"
            + _weakest_fonts(summary.get("weakest_fonts")) + provenance(result))


def _weakest_fonts(weakest):
    if not weakest:
        return ""

    def named(rows):
        return ", ".join("%s %s" % (row["font"].rsplit(".", 1)[0], percent(row["kind_accuracy"], 0)) for row in rows)

    return ("The fonts whose digits the kind head (%s preset, seed %d) most often takes for handwriting, kind accuracy "
            "on %d digits of each: held out: %s; of the job's own: %s.\n\n"
            % (weakest["preset"], weakest["seed"], weakest["per_font"], named(weakest["held_out"]),
               named(weakest["training"])))


# --- Fine-tuning: bench/fine_tuning.py

@renderer("fine_tuning")
def fine_tuning(result):
    summary = result["summary"]
    before, style = summary["before"], summary["style"]
    rows = ["| model | training digits | seven-segment (held-out) | MNIST test | held-out printed digits "
            "| fine-tuning time: training / whole process (s) |", "|---|---:|---:|---:|---:|---:|"]
    start, trained_on = "given model", "-"
    if before.get("preset"):
        start, trained_on = "%s preset, seed %d" % (before["preset"], before["seed"]), "MNIST's 60,000 (and printed)"
    rows.append("| %s, before fine-tuning | %s | %s | %s | %s | - |" % (
        start, trained_on, percent(before["scores"]["style"]), percent(before["scores"]["mnist"]),
        percent(before["scores"]["printed"])))
    for group in summary["groups"]:
        after = group["after"]
        rows.append("| fine-tuned, mnist-share %s (seeds %s) | %s | %s | %s | %s | %s / %s |" % (
            group["mnist_share"], " ".join(str(s) for s in group["seeds"]),
            number(group["training_digits"]), percent(after["style"]), percent(after["mnist"]),
            percent(after["printed"]), seconds(group["train_seconds"]), seconds(group["process_seconds"])))
    about = ("Fine-tuned on %d seven-segment display pictures (%d of each digit) with the fine-tune preset, "
             "MNIST's digits mixed in at each mnist-share; scored on %s others drawn from another seed, MNIST's "
             "10,000 test digits and %s printed digits of %s, through the serving handlers; medians over "
             "the seeds." % (style["train"], style["train"] // 10, number(style["held_out"]),
                             number(summary["printed"]["digits"]), " and ".join(summary["printed"]["packages"])))
    trained = ""
    if before.get("train_seconds") is not None:
        trained = (" Training the model it starts from took %s s (%d epochs, %s s for the process)."
                   % (seconds(before["train_seconds"]), before["epochs"], seconds(before["process_seconds"])))
    return "\n".join(rows) + "\n\n" + about + trained + "\n\n" + provenance(result)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a marked region differs from what the results give")
    parser.add_argument("--results", help="folder of result files (default: %s)" % RESULTS)
    args = parser.parse_args(argv)
    try:
        changed = publish(REPO, check=args.check, results=args.results)
    except PublishError as e:
        sys.exit("bench/publish.py: %s" % e)
    if args.check and changed:
        sys.exit("bench/publish.py --check: %s differ from %s; run python bench/publish.py"
                 % (", ".join(changed), RESULTS))
    print("%s: %s" % ("checked" if args.check else "wrote", ", ".join(changed) or "nothing to change"))


# --- Formatting helpers

def number(x, digits=0):
    return "{:,.{}f}".format(x, digits)


def seconds(x):
    return "not reached" if x is None else "%.1f" % x


def percent(x, digits=2):
    return "%.*f%%" % (digits, 100 * x)


def provenance(result, details=""):
    """The sentence under a table: what was measured where, when, under what load."""
    commit, machine, load = result["commit"], result["machine"], result["load_average"]
    changed = commit["changed"]
    tree = ""
    if commit["dirty"]:
        tree = " with uncommitted changes (%s)" % (", ".join(changed) if len(changed) <= 3 else "%d files" % len(changed))
    host = "%s, %d cores" % (machine["cpu"], machine["cores"])
    if machine.get("virtualization") not in (None, "none"):
        host += " (%s)" % machine["virtualization"]
    if machine.get("device"):
        host += ", %s" % machine["device"]
    if machine.get("torch"):
        host += ", torch %s" % machine["torch"]
    command = " ".join(["python"] + result["command"])
    took = "%.0f s" % result["seconds"] if result["seconds"] < 120 else "%.0f min" % (result["seconds"] / 60)
    return ("Measured %s at commit %s%s on %s%s; load average %.2f before, %.2f after; `%s` (%s); "
            "from `%s/%s.json`."
            % (result["date"][:10], commit["sha"][:7], tree, host, details, load["before"][0],
               load["after"][0], command, took, RESULTS, result["bench"]))


# --- Training: bench/train_speed.py

def _speedup(group, baseline):
    t = group["median_time_to_target"]
    if baseline is None or group is baseline or not t:
        return "-"
    # A baseline that never reached the target gives a lower bound: all its training time.
    reference = baseline["median_time_to_target"] or max(baseline["train_seconds"])
    return "%s%.0fx" % ("" if baseline["median_time_to_target"] else "more than ", reference / t)


def _train_groups(result):
    groups = result["summary"]["groups"]
    baseline = next((g for g in groups if g["kind"] == "baseline"), None)
    return groups, baseline


def _target(result):
    return "%.1f%%" % (100 * result["data"]["target"])


@renderer("train_speed")
def train_speed(result):
    groups, baseline = _train_groups(result)
    rows = ["| run | seeds | epochs | time to %s (s, median; per seed) | speed-up vs baseline "
            "| final test accuracy (mean; per seed) | training (s, all epochs) | process wall (s) |" % _target(result),
            "|---|---|---|---|---|---|---|---|"]
    for g in groups:
        rows.append("| %s | %s | %s | %s (%s) | %s | %s (%s) | %s | %s |" % (
            g["name"], " ".join(map(str, g["seeds"])), " ".join(map(str, g["epochs"])),
            seconds(g["median_time_to_target"]), ", ".join(seconds(x) for x in g["times_to_target"]),
            _speedup(g, baseline), percent(g["mean_final_accuracy"]),
            ", ".join("%.2f" % (100 * a) for a in g["final_accuracies"]),
            " ".join("%.1f" % t for t in g["train_seconds"]), " ".join("%.0f" % w for w in g["process_seconds"])))
    threads = result["machine"].get("omp_wait_policy")
    return ("\n".join(rows) + "\n\n" + _against_tree(result)
            + provenance(result, "; OMP_WAIT_POLICY %s" % threads if threads else ""))


@renderer("train_speed_summary", source="train_speed")
def train_speed_summary(result):
    groups, baseline = _train_groups(result)
    rows = ["| run | time to %s test accuracy | speed-up | final test accuracy |" % _target(result),
            "|---|---|---|---|"]
    for g in groups:
        epochs = sorted(set(g["epochs"]))
        seeds = "seed%s %s" % ("s" if len(g["seeds"]) > 1 else "", " ".join(map(str, g["seeds"])))
        if g["kind"] == "baseline":
            label = "baseline: pytorch/examples' recipe (Adadelta, %d-epoch cap, %s)" % (g["epoch_cap"], seeds)
        else:
            label = "%s, `preset=%s` (%s epoch%s, %s)" % (g.get("tree", "ours"), g["kind"], "-".join(
                map(str, epochs)), "" if epochs == [1] else "s", seeds)
        rows.append("| %s | %s s (%s) | %s | %s (%s) |" % (
            label, seconds(g["median_time_to_target"]), ", ".join(seconds(x) for x in g["times_to_target"]),
            "1x" if g is baseline else _speedup(g, baseline), percent(g["mean_final_accuracy"]),
            ", ".join("%.2f" % (100 * a) for a in g["final_accuracies"])))
    return "\n".join(rows) + "\n\n" + _against_tree(result) + provenance(result)


def _against_tree(result):
    """The table of this tree's trainer against an earlier commit's (--baseline-tree), or nothing."""
    against = result["summary"].get("baseline_tree")
    if not against:
        return ""
    name = against["name"]
    rows = ["| preset | time to %s: ours / %s (median; per seed) | final test accuracy: ours - %s "
            "(mean; per seed) |" % (_target(result), name, name), "|---|---|---|"]
    for preset, versus in against["presets"].items():
        time, accuracy = versus["time_to_target"], versus["final_accuracy"]
        per_seed = ", ".join("-" if r is None else "%.2f" % r for r in time["per_seed"])
        rows.append("| %s | %s (%s) | %+.2f points (%s) |" % (
            preset, "-" if time["ratio"] is None else "%.2fx" % time["ratio"], per_seed,
            100 * accuracy["difference"], ", ".join("%+.2f" % (100 * d) for d in accuracy["per_seed"])))
    return ("\n".join(rows) + "\n\nOurs against %s's own trainer (`code/train.py` of a checkout of %s, "
            "its `code/` alone on the path), the same presets, seeds and data, each seed's two runs back to "
            "back; a time ratio below 1 is faster.\n\n" % (name, against["sha"][:12]))


# --- Serving: bench/serve_speed.py

# What the serving path set out to reach (README.md, "Benchmarks"); the renderers say which it met.
SERVE_AIMS = {"ratio": 2.0, "p99_c1_ms": 10.0, "batch_images_s": 5000, "cold_start_s": 5.0}
_CELLS = (("c1", "single JSON image, concurrency 1", "req/s"),
          ("c8", "single JSON image, concurrency 8", "req/s"),
          ("batch", "MultiRecord CSV batch", "images/s"))


def _serve_details(result):
    data = result["data"]
    rounds = len(data["rounds"])
    java = result["machine"].get("java")
    return ("%s; width %d, %d workers per server; %d round%s of %g s per cell after a %g s warm-up per server"
            % ("; Java: %s" % java if java else "", data["width"], data["workers"], rounds, "" if rounds == 1 else "s",
               data["seconds_per_cell"], data["warmup_s"]))


def built_from(image, result, sha=None, commit="the commit measured"):
    """Whether build.sh's tag (the git short sha it built from) names the commit measured (or `sha`)."""
    sha = sha or result["commit"]["sha"]
    shas = [tag.rsplit(":", 1)[-1] for tag in image.get("tags", [])]
    if any(len(tag) >= 7 and sha.startswith(tag) for tag in shas):
        return "built from %s" % commit
    if any(len(tag) >= 7 and sha.startswith(tag.removesuffix("-dirty")) for tag in shas):
        return "built from %s, with uncommitted changes" % commit
    return "**not** built from %s" % commit


def _cold(summary, name):
    cold = summary.get("cold_start_s", {}).get(name)
    if not cold:
        return None

    def s(x):
        return "-" if x is None else "%.1f s" % x
    return cold, s


def _cold_cell(summary, name):
    found = _cold(summary, name)
    if found is None:
        return "not measured"
    cold, s = found
    ping = s(cold["ping_200"]) + (" (model not loaded yet)" if name == "stock" else "")
    return "%s / %s" % (ping, s(cold["first_answer"]))


def serve_aims(summary):
    """One sentence: each aim, the measured value, met or not."""
    def verdict(ok):
        return "met" if ok else "**not met**"

    parts = []
    for cell, label in (("c1", "concurrency 1"), ("c8", "concurrency 8")):
        paired = summary[cell]["paired_ratio"]["median"]
        parts.append("at least %gx the stock throughput at %s (paired %.2fx: %s)"
                     % (SERVE_AIMS["ratio"], label, paired, verdict(paired >= SERVE_AIMS["ratio"])))
    p99 = summary["c1"]["p99_ms"]["ours"]
    parts.append("p99 under %g ms at concurrency 1 (%.1f ms: %s)"
                 % (SERVE_AIMS["p99_c1_ms"], p99, verdict(p99 < SERVE_AIMS["p99_c1_ms"])))
    batch = summary["batch"]["ours"]
    parts.append("%s images/s in batch (%s: %s)"
                 % (number(SERVE_AIMS["batch_images_s"]), number(batch), verdict(batch >= SERVE_AIMS["batch_images_s"])))
    found = _cold(summary, "ours")
    if found and found[0]["ping_200"] is not None:
        ping = found[0]["ping_200"]
        parts.append("cold start under %g s (%.1f s: %s)"
                     % (SERVE_AIMS["cold_start_s"], ping, verdict(ping < SERVE_AIMS["cold_start_s"])))
    else:
        parts.append("cold start under %g s (not measured)" % SERVE_AIMS["cold_start_s"])
    return "Aims: " + "; ".join(parts) + "."


def _latency(entry, name):
    return "%.1f / %.1f ms" % (entry["p50_ms"][name], entry["p99_ms"][name])


@renderer("serve_speed")
def serve_speed(result):
    summary, data = result["summary"], result["data"]
    rows = ["| | ours | stock | ratio of medians | paired ratio (median, range) |",
            "|---|---:|---:|---:|---:|"]
    for cell, title, unit in _CELLS:
        entry = summary[cell]
        rounds = entry["paired_ratio"]["rounds"]
        rows.append("| %s | %s %s | %s %s | %.2fx | %.2fx (%.2f-%.2f) |" % (
            title, number(entry["ours"]), unit, number(entry["stock"]), unit, entry["ratio"],
            entry["paired_ratio"]["median"], min(rounds), max(rounds)))
        if "p50_ms" in entry:
            rows.append("| p50 / p99 latency, %s | %s | %s | | |"
                        % (title.split(", ")[-1], _latency(entry, "ours"), _latency(entry, "stock")))
    rows.append("| fraction of the limit (c1, c8, batch) | %s | %s | | |" % tuple(
        ", ".join(percent(summary[c]["fraction_of_limit"][name], 0) for c, _, _ in _CELLS)
        for name in ("ours", "stock")))
    limit = summary["in_process_limit"]
    rows.append("| in-process limit, single image / CSV batch | %s | %s | | |" % tuple(
        "%s req/s / %s images/s" % (number(limit["single_req_s"][name]), number(limit["batch_images_s"][name]))
        for name in ("ours", "stock")))
    runs = len(data["cold_starts"].get("ours", []))
    rows.append("| cold start: `docker run` to /ping 200 / first answer (median of %d) | %s | %s | | |"
                % (runs, _cold_cell(summary, "ours"), _cold_cell(summary, "stock")))

    spans = []
    for cell, title, unit in _CELLS:
        per_path = ["%s %s-%s" % (name, number(min(r[name] for r in _cells(data, cell))),
                                  number(max(r[name] for r in _cells(data, cell))))
                    for name in ("ours", "stock")]
        spans.append("%s: %s %s" % (title, ", ".join(per_path), unit))
    colds = []
    for name, runs in sorted(data["cold_starts"].items()):
        colds.append("%s %s" % (name, ", ".join("-" if ping is None else "%.1f" % ping for ping, _ in runs)))
    lines = ["Range over the rounds: " + "; ".join(spans) + "."]
    if colds:
        lines.append("Cold starts, `docker run` to /ping 200 (s), in order: " + "; ".join(colds) + ".")
    image = data.get("image")
    if image and image.get("id"):
        lines.append("Image for the cold starts: `%s` (%s, tags %s: %s)."
                     % (image["name"], image["id"][:19], ", ".join(image.get("tags", [])) or "none",
                        built_from(image, result)))
    tree, image = data.get("baseline_tree"), data.get("baseline_image")
    if tree and image and image.get("id"):
        tags = ", ".join(image.get("tags", [])) or "none"
        built = built_from(image, result, tree["sha"], tree["name"])
        lines.append("Image for %s's cold starts: `%s` (%s, tags %s: %s)."
                     % (tree["name"], image["name"], image["id"][:19], tags, built))
    return ("\n".join(rows) + "\n\n" + serve_aims(summary) + "\n\n" + serve_comparisons(result)
            + " ".join(lines) + "\n\n"
            + provenance(result, _serve_details(result)))


def _cells(data, cell):
    """Each round's rate of `cell` on both paths: [{"ours": x, "stock": y}, ...]."""
    return [{name: r["cells"][cell][name]["rate"] for name in ("ours", "stock")} for r in data["rounds"]]


@renderer("serve_speed_summary", source="serve_speed")
def serve_speed_summary(result):
    summary = result["summary"]
    rows = ["| | ours | stock | ours / stock (paired) |", "|---|---:|---:|---:|"]
    for cell, title, unit in _CELLS:
        entry = summary[cell]
        rows.append("| %s | %s %s | %s %s | %.2fx (%.2fx) |" % (
            title, number(entry["ours"]), unit, number(entry["stock"]), unit, entry["ratio"],
            entry["paired_ratio"]["median"]))
        if "p50_ms" in entry:
            rows.append("| p50 / p99 latency, %s | %s | %s | |"
                        % (title.split(", ")[-1], _latency(entry, "ours"), _latency(entry, "stock")))
    rows.append("| cold start: `docker run` to /ping 200 / first answer | %s | %s | |"
                % (_cold_cell(summary, "ours"), _cold_cell(summary, "stock")))
    paired = ["%s %s" % (label, ", ".join("%.2f" % r for r in summary[cell]["paired_ratio"]["rounds"]))
              for cell, label in (("c1", "concurrency 1"), ("c8", "concurrency 8"))]
    return ("\n".join(rows) + "\n\n" + serve_aims(summary) + " Paired ratio of each round: %s.\n\n"
            % "; ".join(paired) + serve_comparisons(result) + provenance(result, _serve_details(result)))


# An earlier commit's serving figures (--baseline-tree) the final code keeps within this, or beats.
BASELINE_TOLERANCE = 0.05
_FIGURES = {"rate": None, "p50_ms": "p50 latency", "p99_ms": "p99 latency",
            "ping_200": "`docker run` to /ping 200", "first_answer": "`docker run` to the first answer"}


def _figure_title(entry):
    if entry["cell"] == "cold_start":
        return "cold start: " + _FIGURES[entry["figure"]]
    title = dict((cell, title) for cell, title, _ in _CELLS)[entry["cell"]]
    if entry["figure"] == "rate":
        return "%s (%s)" % (title, entry["unit"])
    return "%s, %s" % (_FIGURES[entry["figure"]], title.split(", ")[-1])


def _figure_value(x, unit):
    if x is None:
        return "-"
    return "%.1f %s" % (x, unit) if unit in ("ms", "s") else number(x)


def _favourable(ratio, better, tolerance=0.0):
    return ratio >= 1 - tolerance if better == "higher" else ratio <= 1 + tolerance


def figure_within(entry, tolerance):
    """Whether a comparison's figure is within `tolerance` of the other path's, or better (its
    paired ratio); False when it was not measured."""
    ratio = entry["paired"]["median"]
    return ratio is not None and _favourable(ratio, entry["better"], tolerance)


def comparison_verdict(entry, kind):
    """kind "baseline": within BASELINE_TOLERANCE of the earlier commit or better (the paired ratio,
    else the ratio of medians); kind "variant": whether ours was better round by round."""
    ratio = entry["paired"]["median"] if entry["paired"]["median"] is not None else entry["ratio"]
    if ratio is None:
        return "not measured"
    if kind == "baseline":
        return "yes" if _favourable(ratio, entry["better"], BASELINE_TOLERANCE) else "**no**"
    rounds = entry["paired"]["rounds"] or [ratio]
    better = sum(_favourable(r, entry["better"]) and r != 1 for r in rounds)
    if better == len(rounds):
        return "better in every round"
    if better == 0:
        return "**worse in every round**"
    return "better in %d of %d rounds" % (better, len(rounds))


def _comparison_row(entry, ours, other, verdict):
    """One figure of a comparison (bench/serve_compare.py) as a table row: both values, their
    ratio, the paired ratio's median and range, and the verdict."""
    rounds = entry["paired"]["rounds"]
    paired = "%.2fx (%.2f-%.2f)" % (entry["paired"]["median"], min(rounds), max(rounds)) if rounds else "-"
    return "| %s | %s | %s | %s | %s | %s |" % (
        _figure_title(entry), _figure_value(entry["values"][ours], entry["unit"]),
        _figure_value(entry["values"][other], entry["unit"]),
        "-" if entry["ratio"] is None else "%.2fx" % entry["ratio"], paired, verdict)


def serve_comparisons(result):
    """A table per comparison the run made (ours against an earlier commit, ours against ours with
    a part turned off), or nothing."""
    tables = []
    for comparison in result["summary"].get("comparisons", []):
        ours, other, kind = comparison["ours"], comparison["other"], comparison["kind"]
        judged = ("within %g%% of %s or better" % (100 * BASELINE_TOLERANCE, other) if kind == "baseline"
                  else "ours against %s, round by round" % other)
        rows = ["| | %s | %s | %s / %s | paired (median, range) | %s |" % (ours, other, ours, other, judged),
                "|---|---:|---:|---:|---:|---|"]
        verdicts = []
        for entry in comparison["figures"]:
            verdicts.append(comparison_verdict(entry, kind))
            rows.append(_comparison_row(entry, ours, other, verdicts[-1]))
        if kind == "baseline":
            tree = result["data"].get("baseline_tree", {})
            failed = verdicts.count("**no**")
            state = "with uncommitted changes" if tree.get("dirty") else "clean"
            met = "met" if not failed else "**not met** (%d of %d figures)" % (failed, len(verdicts))
            note = ("%s: its own serving code, plugin and host server runner, run from a checkout of %s (%s) "
                    "on the same weights in the same rounds. Every figure within %g%% of %s or better: %s."
                    % (other, tree.get("sha", other)[:12], state, 100 * BASELINE_TOLERANCE, other, met))
        else:
            note = ("%s: ours with `-Dmnist.worker_affinity=false` (MMS's own worker order and batch loop), "
                    "in the same rounds. A ratio above 1 for rates, below 1 for latencies, is ours ahead."
                    % other)
        tables.append("\n".join(rows) + "\n\n" + note + "\n\n")
    return "".join(tables)


# --- The CPU image against the CUDA image: bench/image_serving.py

@renderer("image_serving")
def image_serving(result):
    summary = result["summary"]
    comparison = summary["comparison"]
    ours, other = comparison["ours"], comparison["other"]
    tolerance = summary["tolerance"]
    rows = ["| | %s | %s | %s / %s | paired (median, range) | within %g%% or better |"
            % (ours, other, ours, other, 100 * tolerance), "|---|---:|---:|---:|---:|---|"]
    failed = 0
    for entry in comparison["figures"]:
        ok = figure_within(entry, tolerance)
        failed += not ok
        rows.append(_comparison_row(entry, ours, other, "yes" if ok else "**no**"))
    rows.append("| memory after the rounds (docker stats) | %s | %s | | | |"
                % (summary["memory"].get(ours, "-"), summary["memory"].get(other, "-")))
    images = summary["images"]
    described = "; ".join("%s: `%s` (%s, %s)" % (name, image["name"], image.get("id", "?")[:19],
                                                  built_from(image, result))
                          for name, image in images.items())
    met = "met" if not failed else "**not met** (%d of %d figures)" % (failed, len(comparison["figures"]))
    data = result["data"]
    about = ("Each image as SageMaker runs it (`docker run IMAGE serve`, the same width-%d model, its own defaults), "
             "both running throughout, %d rounds of %g s per figure after %g s of warm-up load each, the first "
             "image alternating by round. The CPU image's figures the same as the CUDA image's (every paired "
             "ratio within %g%%, or better): %s. Images: %s."
             % (data["width"], len(data["rounds"]), data["seconds_per_figure"], data["warmup_s"],
                100 * tolerance, met, described))
    return "\n".join(rows) + "\n\n" + about + "\n\n" + provenance(result)


# --- The soak: bench/soak.py

def _megabytes(size):
    return "%s MB" % number(size / 2**20)


def _ms(x):
    return "-" if x is None else "%.1f" % x


def _growth(x):
    return "-" if x is None else "%+.1f%%" % (100 * x)


def soak_goals(summary):
    """One sentence: each goal of the soak and whether the run met it."""
    def verdict(ok):
        return "met" if ok else "**not met**"

    goals, valid, bad = summary["goals"], summary["valid"], summary["bad"]
    parts = ["no error on a valid request (%s of %s: %s)"
             % (number(valid["errors"]), number(valid["requests"]), verdict(goals["no_valid_errors"])),
             "every bad request a 4xx with a JSON message (%s of %s not: %s)"
             % (number(bad["errors"]), number(bad["requests"]),
                verdict(goals["every_bad_a_4xx_with_a_message"])),
             "memory up less than 10%% from the end of the warm-up to the end (%s: %s)"
             % (_growth(summary["memory"]["growth"]["usage"]),
                verdict(goals["memory_growth_under_10_percent"]))]
    stopped = summary.get("stopped_early")
    return "Goals: " + "; ".join(parts) + "." + (" The run stopped early: %s." % stopped if stopped else "")


_SOAK_MEMORY = (("usage", "container, as `docker stats` shows it (cgroup usage less inactive files)"),
                ("usage_with_cache", "cgroup usage, all page cache included"),
                ("anon", "cgroup anonymous memory"),
                ("rss_sum", "sum of the processes' RSS (shared pages once per process)"))


def _soak_totals(summary):
    valid, bad = summary["valid"], summary["bad"]
    rows = ["| | requests | errors | p50 / p99 latency |", "|---|---:|---:|---:|",
            "| valid: %d kinds, digits checked against this tree's handlers | %s | %s | %s / %s ms |"
            % (valid["kinds"], number(valid["requests"]), number(valid["errors"]), _ms(valid["p50_ms"]),
               _ms(valid["p99_ms"])),
            "| bad: %d kinds, each must be its own 4xx with a JSON message | %s | %s | |"
            % (bad["kinds"], number(bad["requests"]), number(bad["errors"])),
            "| all, %g s after a %g s warm-up at concurrency %d | %s (%s req/s in the window) | %s | |"
            % (summary["seconds"], summary["warmup_s"], summary["concurrency"], number(summary["requests"]),
               number(summary["rate_req_s"]), number(valid["errors"] + bad["errors"]))]
    return "\n".join(rows)


def _soak_memory(summary, names):
    memory = summary["memory"]
    start, end = memory["start"], memory["end"]
    mem = ["| memory | end of warm-up | end | growth |", "|---|---:|---:|---:|"]
    for name, title in _SOAK_MEMORY:
        if name in names:
            mem.append("| %s | %s | %s | %s |" % (title, _megabytes(start[name]), _megabytes(end[name]),
                                                  _growth(memory["growth"][name])))
    return "\n".join(mem)


@renderer("soak_summary", source="soak")
def soak_summary(result):
    """The README's part: the totals, the container's memory and the goals."""
    summary = result["summary"]
    return ("\n\n".join([_soak_totals(summary), _soak_memory(summary, ("usage",)), soak_goals(summary)])
            + "\n\n" + provenance(result, "; Docker %s" % result["machine"].get("docker")))


@renderer("soak")
def soak(result):
    summary, data = result["summary"], result["data"]
    valid = summary["valid"]
    kinds = ["| request | expected | requests | errors | another 4xx | answers that closed the connection "
             "| p50 / p99 ms |", "|---|---:|---:|---:|---:|---:|---:|"]
    for kind, entry in sorted(summary["kinds"].items(), key=lambda item: (not item[1]["valid"], item[0])):
        kinds.append("| %s %s | %s | %s | %s | %s | %s | %s / %s |" % (
            "valid:" if entry["valid"] else "bad:", kind, 200 if entry["valid"] else entry["expected"],
            number(entry["requests"]), number(entry["errors"]), number(entry["other_status"]),
            number(entry["closed"]), _ms(entry["p50_ms"]), _ms(entry["p99_ms"])))
    errors = summary["errors"]
    listed = ("Errors by kind: %s." % "; ".join("%s (%s)" % (what, number(n)) for what, n in errors.items())
              if errors else "No errors.")
    others = summary["other_statuses"]
    if others:
        listed += (" Bad requests answered with a 4xx and a message, but not the 4xx they should get (not "
                   "errors): %s." % "; ".join("%s (%s)" % (what, number(n)) for what, n in others.items()))
    image = data.get("image", {})
    accuracy = "-" if valid["accuracy"] is None else percent(valid["accuracy"])
    about = ("Accuracy of the valid answers against the true digits: %s of %s images; backends that died: "
             "%d; connections opened again: %s. Image `%s` (%s, %s)."
             % (accuracy, number(valid["images"]), summary["backend_deaths"], number(summary["reconnects"]),
                image.get("name"), (image.get("id") or "no id")[:19], built_from(image, result)))
    sentences = " ".join([soak_goals(summary), listed, about])
    tables = [_soak_totals(summary), _soak_memory(summary, dict(_SOAK_MEMORY)), sentences, "\n".join(kinds)]
    return ("\n\n".join(tables) + "\n\n"
            + provenance(result, "; Docker %s" % result["machine"].get("docker")))


# --- Image sizes: bench/image_sizes.py

def gigabytes(size):
    return "%.2f GB" % (size / 1e9)


@renderer("image_sizes")
def image_sizes(result):
    images, shared = result["data"]["images"], result["summary"]["common_layers"]
    order = [k for k in ("training", "inference", "inference_cpu") if k in images]
    titles = {"training": "training image", "inference": "inference image", "inference_cpu": "CPU inference image"}
    own = {"training": "sagemaker-training, matplotlib, code",
           "inference": "OpenJDK 17, MMS and sagemaker-inference, the plugin, code",
           "inference_cpu": "everything above Debian: Python, PyTorch's CPU build, then as the inference image"}
    # The CPU image shares the base alone: its own layers are its size less the layers at its bottom
    # that the training image lists too (`docker history` does not always match its layers).
    def cpu_own(found):
        common = 0
        for mine, theirs in zip(found["layers"], images["training"]["layers"]):
            if mine["digest"] != theirs["digest"] or theirs["size_bytes"] is None:
                break
            common += theirs["size_bytes"]
        return found["size_bytes"] - common
    own_size = {"inference_cpu": cpu_own}
    rows = ["| | %s |" % " | ".join(titles[k] for k in order), "|%s" % ("---|" * (len(order) + 1))]
    rows.append("| image | %s |" % " | ".join("`%s`" % images[k]["name"] for k in order))
    rows.append("| size (`docker image inspect`) | %s |"
                % " | ".join(gigabytes(images[k]["size_bytes"]) for k in order))
    cpu_cell = ["its own torch layer"] if "inference_cpu" in order else []
    if shared["size_bytes"] is None:
        rows.append("| shared layers (Debian, Python 3.11, torch) | %d layers (size not computed) | %s |"
                    % (shared["layers"], " | ".join(["the same"] + cpu_cell)))
        rows.append("| own layers | %s |" % " | ".join(own[k] for k in order))
    else:
        rows.append("| shared layers (Debian, Python 3.11, torch): stored once | %s (%d layers) | %s |"
                    % (gigabytes(shared["size_bytes"]), shared["layers"], " | ".join(["the same"] + cpu_cell)))
        rows.append("| own layers | %s |" % " | ".join(
            "%s: %s" % (gigabytes(own_size[k](images[k]) if k in own_size else
                                  images[k]["size_bytes"] - shared["size_bytes"]), own[k]) for k in order))
    rows.append("| tags | %s |" % " | ".join(
        "%s (%s)" % (", ".join(images[k]["tags"]) or "none", built_from(images[k], result)) for k in order))
    largest = max(images[k]["size_bytes"] for k in order)
    limit = 10 * 2**30
    verdict = ("all below SageMaker's 10 GiB limit for endpoint images (the largest: %.2f GiB)" % (largest / 2**30)
               if largest < limit else "**over SageMaker's 10 GiB limit for endpoint images**")
    if "inference_cpu" in order:
        size = images["inference_cpu"]["size_bytes"]
        verdict += "; the CPU inference image %s the 1.5 GB goal" % ("within" if size <= 1.5e9 else "**over**")
    return "\n".join(rows) + "\n\nUncompressed sizes, as `docker images` shows them; %s.\n\n%s" % (
        verdict, provenance(result, "; Docker %s" % result["machine"].get("docker", "unknown")))


# --- Cold starts of the inference images side by side: bench/cold_start.py

@renderer("cold_start")
def cold_start(result):
    summary, data = result["summary"], result["data"]
    goal = data["goal_s"]
    rows = ["| image | size | /ping 200 (median) | first right answer (median) | every run: first right answer (s) |",
            "|---|---:|---:|---:|---|"]
    for found in data["images"]:
        name = found["name"]
        entry, runs = summary[name], data["runs"][name]
        rows.append("| `%s` | %s | %s s | %s s | %s |" % (
            name, gigabytes(entry["size_bytes"]) if entry["size_bytes"] else "-", seconds_2(entry["ping_200"]),
            seconds_2(entry["first_answer"]), ", ".join(seconds_2(run[1]) for run in runs)))
    cpu = [found["name"] for found in data["images"] if found["name"].split(":")[0].endswith("-cpu")]
    verdicts = []
    for name in cpu:
        answered = summary[name]["first_answer"]
        verdicts.append("`%s`'s first right answer %s s after `docker run`: %s the %g s goal"
                        % (name, seconds_2(answered), "within" if answered is not None and answered < goal
                           else "**not within**", goal))
    about = ("From `docker run IMAGE serve` (the model at /opt/ml/model, the tests' small net) to /ping's 200 and "
             "to the first answer of the model's own digit for a test digit, polled every 50 ms; the images "
             "in turn each round, the first rotating. %s. Images: %s."
             % ("; ".join(verdicts) or "No CPU image measured",
                "; ".join("`%s` (%s, %s)" % (found["name"], (found.get("id") or "no id")[:19],
                                              built_from(found, result)) for found in data["images"])))
    return "\n".join(rows) + "\n\n" + about + "\n\n" + _cold_phases(result) + provenance(
        result, "; Docker %s" % result["machine"].get("docker", "unknown"))


_COLD_PHASES = (("serve_up", "`serve`'s Python up, preloader started"),
                ("mms_launched", "sagemaker-inference launches MMS"),
                ("jvm_up", "MMS's JVM listening (`Model server started.`)"),
                ("torch_imported", "the preloader has imported torch and the handlers"))


def _cold_phases(result):
    """Where the time of a cold start goes: each phase's median end, seconds after `docker run`."""
    summary, data = result["summary"], result["data"]
    names = [found["name"] for found in data["images"] if summary[found["name"]].get("phases")]
    if not names:
        return ""
    rows = ["| seconds after `docker run` (median) | %s |" % " | ".join("`%s`" % n for n in names),
            "|---|%s" % ("---:|" * len(names))]
    for phase, title in _COLD_PHASES:
        rows.append("| %s | %s |" % (title, " | ".join(seconds_2(summary[n]["phases"].get(phase)) for n in names)))
    rows.append("| /ping 200 | %s |" % " | ".join(seconds_2(summary[n]["ping_200"]) for n in names))
    cpu = [n for n in names if summary[n].get("cpu_s")]
    about_cpu = ""
    if cpu:
        for owner, title in _COLD_CPU:
            rows.append("| CPU seconds by the first answer: %s | %s |" % (title, " | ".join(
                seconds_2(summary[n]["cpu_s"].get(owner)) if n in cpu else "-" for n in names)))
        cores = result["machine"].get("cores") or 1
        about_cpu = (" The CPU seconds are those of the container's processes still running once it had answered "
                     "(`/proc/PID/stat`), medians; on %d cores, all of them (%s) take at least %s s of the "
                     "time after the container's start." % (cores, ", ".join(
                         "%s s for `%s`" % (seconds_2(sum(summary[n]["cpu_s"].values())), n) for n in cpu),
                         " and ".join(seconds_2(sum(summary[n]["cpu_s"].values()) / cores) for n in cpu)))
    return ("\n".join(rows) + "\n\nFrom the containers' timestamped logs (`docker logs -t`), the first line of "
            "each phase's end. The torch import and the JVM's start run side by side on the two cores."
            + about_cpu + "\n\n" + _cold_floors(result))


_COLD_CPU = (("jvm", "MMS's JVM"), ("preloader", "the preloader (torch, the handlers, the worker)"),
             ("serve", "`serve` (with sagemaker-inference)"), ("other", "the rest"))


def _cold_floors(result):
    """The floor under each image's cold start (cold_start.floor), measured after each run."""
    summary, goal = result["summary"], result["data"]["goal_s"]
    parts = []
    for found in result["data"]["images"]:
        floor = summary[found["name"]].get("floor")
        if floor:
            parts.append("`%s`: `docker run` to the container's first command %s s, `import torch` alone %s s; "
                         "together %s s, %s the %g s goal"
                         % (found["name"], seconds_2(floor["to_entrypoint"]), seconds_2(floor["torch_import"]),
                            seconds_2(floor["total"]), "within" if floor["total"] < goal else "**over**", goal))
    if not parts:
        return ""
    return ("The floor under a cold start, measured after each one in a container of its own (medians): "
            + "; ".join(parts) + ". No cold start that imports torch before its first answer can be quicker.\n\n")


def seconds_2(x):
    return "-" if x is None else "%.2f" % x


# --- The README's two commands from a fresh clone: bench/fresh_clone.py

def minutes(x):
    return "%d min %02d s" % divmod(round(x), 60)


@renderer("fresh_clone")
@renderer("fresh_clone_cold")
def fresh_clone(result):
    before = result["data"]["machine_before"]
    rows = ["| command | exit status | wall time |", "|---|---:|---:|"]
    for step in result["data"]["steps"]:
        rows.append("| `%s` | %d | %s |" % (step["command"], step["returncode"], minutes(step["seconds"])))
    if not before["docker_engine_answers"]:
        found = "no Docker engine (the first command installed it), no images"
    else:
        found = "a Docker engine, %s" % (
            "the images' layers already in its cache (%s)" % ", ".join("`%s`" % i for i in before["images_cached"])
            if before["images_cached"] else "no images (built from nothing)")
    return "\n".join(rows) + (
        "\n\nA clone in an empty folder (nothing beside it), no Python environments (each command's set-up "
        "creates them in the clone), and on the machine: %s. %s\n" % (found, provenance(result)))


if __name__ == "__main__":
    main()


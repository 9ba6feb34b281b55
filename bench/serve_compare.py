"""One serving path's figures against another's, for bench/serve_speed.py: for each figure the
medians over the rounds, their ratio, and each round's ratio (the two measured back to back)."""
import statistics

# (cell, figure, index in a round's (rate, p50, p99), unit, which way is better)
FIGURES = (("c1", "rate", 0, "req/s", "higher"),
           ("c1", "p50_ms", 1, "ms", "lower"),
           ("c1", "p99_ms", 2, "ms", "lower"),
           ("c8", "rate", 0, "req/s", "higher"),
           ("c8", "p50_ms", 1, "ms", "lower"),
           ("c8", "p99_ms", 2, "ms", "lower"),
           ("batch", "rate", 0, "images/s", "higher"))
# (figure, index in a cold start's (to /ping 200, to the first answer))
COLD_FIGURES = (("ping_200", 0), ("first_answer", 1))
TITLES = {"c1": "single image, concurrency 1", "c8": "single image, concurrency 8",
          "batch": "MultiRecord CSV", "cold_start": "cold start (docker run)"}


def median_of_some(values):
    """The median of the values that are there (a cold start that timed out has None), or None."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def figure(cell, name, unit, better, paths, ours, other):
    """One figure of two paths: `ours` and `other` are its values, round by round."""
    medians = [median_of_some(ours), median_of_some(other)]
    paired = [a / b for a, b in zip(ours, other) if a is not None and b]
    return {"cell": cell, "figure": name, "unit": unit, "better": better,
            "values": dict(zip(paths, medians)),
            "ratio": medians[0] / medians[1] if None not in medians and medians[1] else None,
            "paired": {"median": statistics.median(paired) if paired else None, "rounds": paired}}


def compare(cells, cold, ours, other, kind):
    """`ours` against `other`: kind "baseline" (an earlier commit) or "variant" (ours with one
    part turned off). cells: (path, cell) -> each round's (rate, p50, p99); cold: path -> runs."""
    paths = (ours, other)
    figures = []
    for cell, name, index, unit, better in FIGURES:
        values = ([row[index] for row in cells[(path, cell)]] for path in paths)
        figures.append(figure(cell, name, unit, better, paths, *values))
    if cold.get(ours) and cold.get(other):
        for name, index in COLD_FIGURES:
            values = ([run[index] for run in cold[path]] for path in paths)
            figures.append(figure("cold_start", name, "s", "lower", paths, *values))
    comparison = {"ours": ours, "other": other, "kind": kind, "figures": figures}
    show(comparison)
    return comparison


def _value(x, unit):
    return "-" if x is None else "%.1f %s" % (x, unit) if unit in ("ms", "s") else "%.0f %s" % (x, unit)


def _ratio(x):
    return "-" if x is None else "%.2fx" % x


def show(comparison):
    ours, other = comparison["ours"], comparison["other"]
    print("\n%-44s %14s %14s %8s %s" % ("", ours, other, "ratio", "  paired (median, range)"))
    for entry in comparison["figures"]:
        rounds = entry["paired"]["rounds"]
        values = [_value(entry["values"][path], entry["unit"]) for path in (ours, other)]
        print("%-44s %14s %14s %8s   %s%s" % (
            "%s, %s" % (TITLES[entry["cell"]], entry["figure"]), *values, _ratio(entry["ratio"]),
            _ratio(entry["paired"]["median"]),
            " (%.2f-%.2f, %s better)" % (min(rounds), max(rounds), entry["better"]) if rounds else ""))

"""gradcli's side, in process: each phase of the pipeline timed on its own, in one child.

parse       core.load (lexer, parser, graph checks), per statement
compile     evaluate.compile_tape
forward     evaluate.forward                    } the engine: forward + backward,
backward    evaluate.backward (every gradient)  } compared with the anchors
edges       evaluate.local_partials (the table of local partials)
notes       evaluate.kinks_hit + anomalies.find (kink notes, where nan/inf came from)
total       core.differentiate(check=False), all of the above but parse, as the CLI runs it
json        render.dumps (what --format json writes)
tables      render.tables + rich printing them (the default output, 50 rows)
check       symbolic.check on the Result (sympy's import is not timed)
Peak RSS (ru_maxrss) is read after each phase; the check comes last so its sympy import
does not count in the pipeline's peak.
"""

from __future__ import annotations

import gc
import io
import re
import resource
import time
from pathlib import Path


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def timed(fn, *args):
    gc.collect()
    gc.disable()
    started = time.perf_counter()
    try:
        result = fn(*args)
    finally:
        elapsed = time.perf_counter() - started
        gc.enable()
    return result, elapsed


def run(path: str, inputs: dict[str, float], reps: int, sample: list[str] | None,
        check: bool) -> dict:
    from gradcli import core, evaluate, render
    text = Path(path).read_text()
    t: dict[str, float] = {}
    rss: dict[str, float] = {"start": peak_mb()}
    graph, t["parse"] = timed(core.load, path, text)
    rss["parse"] = peak_mb()
    values = {name: inputs[name] for name in graph.inputs}
    input_values = core.bind_inputs(graph, values)
    output = graph.statements[-1].target
    runs = []
    for _ in range(reps):
        tape, compile_seconds = timed(evaluate.compile_tape, graph)
        vals, forward = timed(evaluate.forward, tape, input_values)
        out_slot = tape.node_slot[output]
        grads, backward = timed(evaluate.backward, tape, vals, out_slot)
        runs.append({"compile": compile_seconds, "forward": forward, "backward": backward})
    best = min(runs, key=lambda r: r["forward"] + r["backward"])
    t.update(best)
    rss["engine"] = peak_mb()
    sampled = [grads[tape.node_slot[name]] for name in sample or ()]
    grads_sample = [0.0 if g is None else g for g in sampled]
    _, t["edges"] = timed(evaluate.local_partials, tape, graph, vals)
    t["notes"] = _notes_seconds(evaluate, tape, graph, vals, grads, output)
    del tape, vals, grads
    result, t["total"] = timed(core.differentiate, graph, values, None, False)
    rss["total"] = peak_mb()
    _, t["json"] = timed(render.dumps, result)
    rss["json"] = peak_mb()
    t["tables"] = timed(_print_tables, render, result)[1]
    rss["tables"] = peak_mb()
    import gradcli
    record = {"nodes": len(graph.inputs) + len(graph.statements), "gradcli": gradcli.__file__,
              "statements": len(graph.statements), "seconds": t, "runs": runs,
              "rss_mb": rss, "grads": grads_sample,
              "nonfinite": result.anomalies.lines()[:1], "kinks": len(result.kinks)}
    if check:
        record.update(_check(result))
    return record


def _notes_seconds(evaluate, tape, graph, vals, grads, output) -> float | None:
    """kinks_hit + anomalies.find, or None if their signatures have changed."""
    try:
        from gradcli import anomalies
        _, kinks = timed(evaluate.kinks_hit, tape, graph, vals, grads)
        _, found = timed(anomalies.find, tape, graph, vals, grads, output)
    except (AttributeError, TypeError, ImportError):
        return None
    return kinks + found


def _print_tables(render, result) -> None:
    from rich.console import Console
    console = Console(file=io.StringIO(), highlight=False, soft_wrap=False, width=80,
                      color_system=None, force_terminal=False)
    for renderable in render.tables(result, 50, console.width):
        if isinstance(renderable, str):
            console.file.write(renderable + "\n")
        else:
            console.print(renderable)


def _check(result) -> dict:
    from gradcli import symbolic  # imports sympy; not timed
    report, seconds = timed(symbolic.check, result)
    budget = [n for n in report.notes if "time budget" in n]
    unchecked = int(re.search(r"(\d+) statement", budget[0]).group(1)) if budget else 0
    return {"check": seconds, "check_unchecked": unchecked, "check_ok": not report.mismatches}

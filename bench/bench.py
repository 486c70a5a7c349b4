"""Benchmark gradcli's pipeline phase by phase on generated graphs.

Run from the repository root with the project's interpreter:

    .venv/bin/python bench/bench.py                     # chain + dag at 1e3, 1e4, 1e5
    .venv/bin/python bench/bench.py --sizes 1e6 --kinds chain --no-check-phase
    .venv/bin/python bench/bench.py --sizes 1e3 --no-cli

Two graph kinds, written to bench/out/graphs/ (gitignored):
  chain  each statement uses the previous one, cycling through shapes that use every op;
  dag    each statement applies a random shape to 1-3 distinct random earlier nodes/inputs.
Every size and kind runs in a fresh child process (`--child FILE`), so peak RSS
(ru_maxrss) is per run. The child times core.load, evaluate.compile_tape, forward,
backward, local_partials, the whole core.differentiate(check=False), and then
symbolic.check on that Result (sympy's import is not timed; a hit time budget is shown).
Phases are CPU µs per node (inputs + statements), via process_time, which is steadier
than wall time on a shared machine. The CLI columns run
`python -m gradcli eval FILE --format json --no-check` end to end, stdout to /dev/null
(wall seconds, CPU µs per node, and its own peak RSS from os.wait4). The Markdown table
is printed and appended to bench/out/results-<date>.md, headed by the git commit.
Phases run with Python's cycle collector on, as a library caller has it; the CLI turns
it off for its run. --no-gc turns it off in the child too, to compare like with like.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import random
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
INPUTS = {"x": 0.7, "w": 0.3, "b": -0.2, "c": 1.1}
PHASES = ["parse", "compile", "forward", "backward", "edges", "differentiate", "check"]

# {p} is the previous node. Every shape keeps values bounded, so a million steps stay finite.
CHAIN = [
    "sin({p})*0.5 + {p}*w",
    "tanh({p}*w + b) - relu({p} - c)*0.5",
    "sigmoid({p}) * exp(tanh({p})) / (1 + abs({p}))",
    "log(1 + {p}*{p}) - sqrt(abs({p}) + c)*0.25",
    "softplus({p}) - max({p}, x)*0.5 + min({p}, w)*0.25",
    "(abs({p}) + 1) ** 0.5 * cos({p}) - {p}/(2 + {p}*{p}) + -{p}*pi/10",
]
# Shapes by number of operands; each maps values in [-3, 3] back into [-3, 3].
DAG = {
    1: ["tanh({a})", "sigmoid({a}) - 0.5", "sin({a})*0.9", "relu({a}) - 0.25", "exp(-abs({a}))",
        "log(1 + {a}*{a})", "sqrt(abs({a}) + 0.5) - 1", "softplus({a}) - 0.7"],
    2: ["tanh({a}*{b})", "max({a}, {b})*0.5 + min({a}, {b})*0.5", "({a} - {b}) / (2 + abs({b}))",
        "(abs({a}) + 0.5) ** tanh({b}) - 1", "{a}*0.6 - {b}*0.3"],
    3: ["tanh({a}*{b} + {c})", "({a} + {b} + {c})/3", "max({a}, tanh({b}*{c})) - 0.5*sigmoid({c})"],
}


# --- graph generation ---------------------------------------------------------------------

def chain_lines(n: int, rng: random.Random):
    prev = "x"
    for i in range(n):
        yield f"n{i} = " + CHAIN[i % len(CHAIN)].format(p=prev)
        prev = f"n{i}"


def dag_lines(n: int, rng: random.Random):
    names = list(INPUTS)
    for i in range(n):
        k = min(rng.randint(1, 3), len(names))
        picked = [names[j] for j in rng.sample(range(len(names)), k)]
        yield f"n{i} = " + rng.choice(DAG[k]).format(**dict(zip("abc", picked)))
        names.append(f"n{i}")


def write_graph(kind: str, n: int, seed: int) -> Path:
    path = OUT / "graphs" / f"{kind}-{n}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = {"chain": chain_lines, "dag": dag_lines}[kind](n, random.Random(seed))
    path.write_text("\n".join(lines) + "\n")
    return path


# --- the child: one process per graph -------------------------------------------------------

def timed(fn, *args):
    """CPU seconds (process_time): steadier than wall time on a shared machine."""
    started = time.process_time()
    result = fn(*args)
    return result, time.process_time() - started


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(path: str, check: bool, collector: bool) -> dict:
    if not collector:
        gc.disable()
    sys.path.insert(0, str(ROOT))
    from gradcli import core, evaluate
    text = Path(path).read_text()
    t: dict[str, float] = {}
    wall = time.perf_counter()
    graph, t["parse"] = timed(core.load, path, text)
    rss_parse = peak_mb()
    values = {name: INPUTS[name] for name in graph.inputs}
    tape, t["compile"] = timed(evaluate.compile_tape, graph)
    vals, t["forward"] = timed(evaluate.forward, tape, core.bind_inputs(graph, values))
    out_slot = tape.node_slot[graph.statements[-1].target]
    grads, t["backward"] = timed(evaluate.backward, tape, vals, out_slot)
    edges, t["edges"] = timed(evaluate.local_partials, tape, graph, vals)
    wall = time.perf_counter() - wall
    del tape, vals, grads, edges
    result, t["differentiate"] = timed(core.differentiate, graph, values, None, False)
    record = {"nodes": len(graph.inputs) + len(graph.statements), "seconds": t,
              "wall": wall, "rss_parse_mb": rss_parse, "inputs": graph.inputs,
              "nonfinite": result.anomalies.lines()[:1]}
    if check:
        from gradcli import symbolic  # imports sympy; not timed
        report, t["check"] = timed(symbolic.check, result)
        budget = [n for n in report.notes if "time budget" in n]
        record["check_ok"] = not report.mismatches
        record["unchecked"] = int(re.search(r"(\d+) statement", budget[0]).group(1)) if budget else 0
    record["peak_rss_mb"] = peak_mb()
    return record


def run_child(path: Path, check: bool, collector: bool) -> dict:
    args = [sys.executable, str(Path(__file__).resolve()), "--child", str(path)]
    args += ([] if check else ["--no-check-phase"]) + ([] if collector else ["--no-gc"])
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


# --- the whole CLI, end to end ------------------------------------------------------------------

def run_cli(path: Path, inputs: list[str]) -> dict:
    args = [sys.executable, "-m", "gradcli", "eval", str(path), "--format", "json", "--no-check"]
    args += [f"--{name}={INPUTS[name]}" for name in inputs]
    started = time.perf_counter()
    with open(os.devnull, "w") as devnull:
        proc = subprocess.Popen(args, stdout=devnull, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not all children's
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"gradcli exited with {proc.returncode} on {path}")
    return {"seconds": time.perf_counter() - started, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mb": usage.ru_maxrss / 1024}


# --- reporting ------------------------------------------------------------------------------

def row(kind: str, rec: dict, cli: dict | None) -> list[str]:
    n = rec["nodes"]
    cells = [kind, f"{n:,}"]
    for phase in PHASES:
        s = rec["seconds"].get(phase)
        cells.append("–" if s is None else f"{s / n * 1e6:.1f}")
    if "check" in rec["seconds"]:
        unchecked = rec["unchecked"]
        cells[-1] += f" (budget hit, {unchecked:,} unchecked)" if unchecked else ""
        cells[-1] += "" if rec["check_ok"] else " MISMATCH"
    cells += [f"{rec['wall']:.2f}", f"{rec['rss_parse_mb']:.0f}", f"{rec['peak_rss_mb']:.0f}"]
    if cli:
        cells += [f"{cli['seconds']:.2f}", f"{cli['cpu'] / n * 1e6:.1f}", f"{cli['rss_mb']:.0f}"]
    else:
        cells += ["–", "–", "–"]
    return cells


HEADER = (["kind", "nodes"] + PHASES +
          ["parse..edges wall s", "RSS after parse MB", "peak RSS MB", "CLI wall s", "CLI CPU µs/node",
            "CLI RSS MB"])


def markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def commit() -> str:
    """HEAD, marked dirty when gradcli/ (the code measured) has uncommitted changes."""
    def git(*args):
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()
    dirty = " (gradcli/ dirty)" if git("status", "--porcelain", "--", "gradcli") else ""
    return (git("rev-parse", "--short", "HEAD") or "unknown") + dirty


def save(table: str, started_at: str) -> Path:
    now, ended_at = datetime.datetime.now(), commit()
    at = started_at if ended_at == started_at else f"{started_at}, then {ended_at} (code changed mid-run)"
    path = OUT / f"results-{now:%Y-%m-%d}.md"
    header = (f"## {now:%H:%M:%S} `{' '.join(['bench/bench.py'] + sys.argv[1:])}` at {at}\n\n"
              f"Python {platform.python_version()} on {platform.platform()}, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}. Phase columns "
              "are CPU µs per node (inputs + statements).\n\n")
    with path.open("a") as f:
        f.write(header + table + "\n\n")
    return path


# --- main ---------------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="1e3,1e4,1e5", help="comma-separated statement counts")
    p.add_argument("--kinds", default="chain,dag", help="comma-separated: chain, dag")
    p.add_argument("--no-check-phase", action="store_true", help="skip the sympy check phase")
    p.add_argument("--cli", action=argparse.BooleanOptionalAction, default=True,
                   help="also time the CLI end to end (default: on)")
    p.add_argument("--no-gc", action="store_true", help="cycle collector off in the child")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--child", metavar="FILE", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, not args.no_check_phase, not args.no_gc)))
        return
    rows, started_at = [], commit()
    for n in (int(float(s)) for s in args.sizes.split(",")):
        for kind in args.kinds.split(","):
            path = write_graph(kind, n, args.seed)
            rec = run_child(path, not args.no_check_phase, not args.no_gc)
            if rec["nonfinite"]:
                print(f"warning: {kind}-{n}: {rec['nonfinite'][0]}", file=sys.stderr)
            cli = run_cli(path, rec["inputs"]) if args.cli else None
            rows.append(row(kind, rec, cli))
            print("| " + " | ".join(rows[-1]) + " |", file=sys.stderr, flush=True)
    table = markdown(rows)
    print(table)
    print(f"\nappended to {save(table, started_at)}", file=sys.stderr)


if __name__ == "__main__":
    main()

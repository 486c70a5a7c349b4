"""gradcli's performance targets, measured side by side in one run: one command.

    .venv/bin/python bench/run.py                  # 1e4, 1e5, 1e6 nodes (about 12 minutes)
    .venv/bin/python bench/run.py --quick          # 1e4 only, 5 cold starts (about a minute)
    .venv/bin/python bench/run.py --write --label "after the flat tape"   # also bench/RESULTS.md

Every measurement runs in a fresh child process (`--child SPEC`), one after another, so peak
RSS is per run and nothing runs in parallel on the 2 cores. The parent stays small: a child
started from a big parent inherits the parent's RSS as its own high-water mark (vfork), so
even the graph files are written by a child. Figures are ratios between things measured in
the same run; absolute times are there to read, not to compare across machines or days.
bench/README.md says what each target means.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
RESULTS = BENCH / "RESULTS.md"
SOURCE = {"dir": ROOT, "env": None}  # --gradcli-src: measure another checkout of gradcli

# The targets.
TORCH_RATIO = 20.0  # torch time / engine time, at least
MICROGRAD_RATIO = 5.0
BACKWARD_OVER_FORWARD = 1.5  # at most
REFERENCE_RATIO = 2.0  # engine / straight-line reference, at most (a goal)
CLI_SECONDS = {10**5: 1.0, 10**6: 10.0}  # wall, --format json --no-check, under
CLI_MB = {10**6: 1024.0}  # peak RSS, under
PARSE_US = 5.0  # per statement, at most
CHECK_US = 50.0  # per node at 10**5, at most
CHECK_LINEAR = 1.5  # per-node time at 10**5 over that at 10**4, at most: "linear"
COLD = {"json": 12.0, "table": 10.0, "check": 2.5}  # torch wall / gradcli wall, at least
COLD_NAMES = {"json": "--format json --no-check", "table": "table --no-check",
              "check": "default (sympy check)"}
AGREE = 1e-9  # relative difference of sampled gradients between engines


# --- the child ------------------------------------------------------------------------------

def child(spec: dict) -> dict:
    what = spec["what"]
    if what == "write":
        return _write_graph(spec)
    if what == "gradcli":
        import pipeline
        return pipeline.run(spec["path"], spec["inputs"], spec["reps"], spec["sample"],
                            spec["check"])
    import anchors
    import graphs
    g = graphs.make(spec["kind"], spec["n"], spec["seed"])
    sample = graphs.sample_nodes(g)
    program = graphs.lower(g)
    del g
    run = {"torch": anchors.run_torch, "micrograd": anchors.run_micrograd,
           "reference": anchors.run_reference}[what]
    try:
        return run(program, spec["reps"], sample)
    except ImportError as e:
        return {"error": f"not installed ({e.name})"}


def _write_graph(spec: dict) -> dict:
    import graphs
    path = Path(spec["path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    if spec["kind"] == "mixed":
        n = spec["n"]
        path.write_text(graphs.mixed_text(n - len(graphs.MIXED_INPUTS)))
        return {"inputs": graphs.MIXED_INPUTS, "sample": [], "nodes": n}
    g = graphs.make(spec["kind"], spec["n"], spec["seed"])
    path.write_text(graphs.to_text(g))
    ops = sum(len(args) - 1 if op == "sum" else 1 for _, op, args in g.statements)
    names = g.nodes
    return {"inputs": g.inputs, "sample": [names[i] for i in graphs.sample_nodes(g)],
            "nodes": len(g), "statements": len(g.statements), "ops": ops}


def child_main(text: str) -> None:
    record = child(json.loads(text))
    record["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()
    os._exit(0)  # skip tearing down a million objects: not part of any measurement


# --- running children ---------------------------------------------------------------------

LOADS: list[float] = []  # the 1-minute load average, sampled before each child


def log(message: str) -> None:
    LOADS.append(os.getloadavg()[0])
    print(f"[{time.strftime('%H:%M:%S')}] {message} (load {LOADS[-1]:.1f})", file=sys.stderr,
          flush=True)


def run_child(spec: dict, python: str = sys.executable, timeout: float = 1800) -> dict:
    args = [python, str(BENCH / "run.py"), "--child", json.dumps(spec)]
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env=SOURCE["env"])
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0 or not out.strip():
        lines = err.strip().splitlines() or ["no output"]
        return {"error": f"exit {proc.returncode}: {lines[-1][:200]}"}
    record = json.loads(out.strip().splitlines()[-1])
    record["wall"] = time.perf_counter() - started
    return record


def gradcli_command() -> list[str]:
    script = Path(sys.executable).parent / "gradcli"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gradcli"]


def run_process(cmd: list[str], stdout_path: Path | None = None) -> dict:
    """Wall time and this child's own rusage (os.wait4), output to a file or /dev/null."""
    sink = open(stdout_path, "wb") if stdout_path else open(os.devnull, "wb")  # noqa: SIM115
    with sink, open(OUT / "stderr.txt", "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=sink, stderr=err, cwd=ROOT, env=SOURCE["env"])
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = (OUT / "stderr.txt").read_text(errors="replace").strip().splitlines()
        raise RuntimeError(f"{' '.join(cmd[:3])}... exited {code}: {tail[-1] if tail else ''}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mb": usage.ru_maxrss / 1024}


def run_cli(path: Path, inputs: dict, reps: int) -> dict:
    cmd = gradcli_command() + ["eval", str(path), "--format", "json", "--no-check"]
    cmd += [f"--{name}={value!r}" for name, value in inputs.items()]
    out = OUT / "cli-output.json"
    runs = [run_process(cmd, out) for _ in range(reps)]
    size = out.stat().st_size
    out.unlink()
    middle = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]
    return {**middle, "rss_mb": max(r["rss_mb"] for r in runs), "json_bytes": size,
            "walls": [r["wall"] for r in runs]}


def cold_start(reps: int, torch_python: str) -> dict:
    """The notebook's example, whole process, interleaved; the median of each."""
    seed = ["eval", "samples/seed.txt", "--x", "3", "--w", "2", "--b", "1"]
    commands = {
        "torch": [torch_python, str(BENCH / "notebook_torch.py")],
        "json": gradcli_command() + seed + ["--format", "json", "--no-check"],
        "table": gradcli_command() + seed + ["--no-check"],
        "check": gradcli_command() + seed,
    }
    walls: dict[str, list[float]] = {name: [] for name in commands}
    errors = {}
    for name, cmd in commands.items():  # warm the file cache; not counted
        try:
            run_process(cmd)
        except RuntimeError as e:
            errors[name] = str(e)
    names = [name for name in commands if name not in errors]
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:  # rotate the order
            walls[name].append(run_process(commands[name])["wall"])
    return {"median": {n: statistics.median(walls[n]) for n in names},
            "min": {n: min(walls[n]) for n in names}, "walls": walls, "errors": errors,
            "commands": {n: " ".join([Path(c[0]).name] + [_shown(a) for a in c[1:]])
                         for n, c in commands.items()}}


def _shown(arg: str) -> str:
    return str(Path(arg).relative_to(ROOT)) if arg.startswith(str(ROOT)) else arg


# --- the whole run ----------------------------------------------------------------------------

def reps_for(n: int) -> int:
    """Runs in one child, the same for gradcli and every anchor. Two at 10^6, not one: a
    first run there also pays for touching its memory first, and is up to 2x slower."""
    return 5 if n <= 10**4 else 3 if n <= 10**5 else 2


def rounds_for(n: int) -> int:
    """Rounds of children, interleaved (gradcli, reference, micrograd, torch, gradcli, ...):
    the best of each over all rounds. Other work on the machine comes and goes, and the two
    cores may share one physical core, so a single child can run at half speed throughout;
    interleaved rounds give every engine several chances at a quiet moment."""
    return 3 if n <= 10**4 else 2 if n <= 10**5 else 1


def best(records: list[dict]) -> dict:
    """The round with the fastest forward + backward (so bwd/fwd stays one run's); for
    gradcli, every other phase is the fastest of the rounds too."""
    ok = [r for r in records if "error" not in r]
    if not ok:
        return records[-1]
    if "seconds" in ok[0]:
        chosen = min(ok, key=lambda r: r["seconds"]["forward"] + r["seconds"]["backward"])
        chosen = {**chosen, "seconds": dict(chosen["seconds"])}
        for key, value in chosen["seconds"].items():
            if key not in ("compile", "forward", "backward") and value is not None:
                chosen["seconds"][key] = min(r["seconds"][key] for r in ok)
        if "check" in chosen:
            chosen["check"] = min(r["check"] for r in ok)
        return chosen
    return min(ok, key=lambda r: r["forward"] + r["backward"])


def measure(args) -> dict:
    OUT.mkdir(exist_ok=True)
    data: dict = {"engine": [], "cli": [], "cold": None}
    anchors = [a for a in ("reference", "micrograd", "torch") if a in args.anchors]
    for n in args.sizes:
        for kind in args.kinds:
            path = OUT / "graphs" / f"{kind}-{n}.txt"
            log(f"{kind} {n:,}: writing {path.relative_to(ROOT)}")
            graph = run_child({"what": "write", "kind": kind, "n": n, "seed": args.seed,
                               "path": str(path)})
            if "error" in graph:
                raise SystemExit(f"cannot write {path}: {graph['error']}")
            specs = {"gradcli": {"what": "gradcli", "path": str(path), "reps": reps_for(n),
                                 "inputs": graph["inputs"], "sample": graph["sample"],
                                 "check": n in args.check_sizes}}
            row = {"kind": kind, "n": n, "graph": graph}
            for anchor in anchors if kind != "mixed" else ():
                if anchor == "reference" and n > args.reference_max:
                    row[anchor] = {"error": f"not run above {args.reference_max:,} nodes"}
                else:
                    specs[anchor] = {"what": anchor, "kind": kind, "n": n, "seed": args.seed,
                                     "reps": reps_for(n)}
            runs: dict[str, list[dict]] = {name: [] for name in specs}
            for round_ in range(rounds_for(n)):
                for name, spec in specs.items():
                    log(f"{kind} {n:,}: {name}, round {round_ + 1} of {rounds_for(n)}")
                    python = args.torch_python if name == "torch" else sys.executable
                    runs[name].append(run_child(spec, python))
                    if runs[name][-1].get("error") == "RecursionError" or \
                            "not installed" in runs[name][-1].get("error", ""):
                        specs = {k: v for k, v in specs.items() if k != name}  # no point again
            row.update({name: best(records) for name, records in runs.items()})
            data["engine"].append(row)
            if n in args.cli_sizes:
                log(f"{kind} {n:,}: CLI end to end")
                try:
                    cli = run_cli(path, graph["inputs"], 3 if n <= 10**5 else 1)
                except RuntimeError as e:
                    cli = {"error": str(e)}
                data["cli"].append({"kind": kind, "n": n, "graph": graph, **cli})
    if args.cold_reps:
        log(f"cold start: {args.cold_reps} runs of each, interleaved")
        data["cold"] = cold_start(args.cold_reps, args.torch_python)
    return data


# --- reporting ------------------------------------------------------------------------------

def us(seconds: float | None, count: int) -> str:
    return "–" if seconds is None else f"{seconds / count * 1e6:.3g}"


def mark(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


def agreement(row: dict, anchor: str) -> float | None:
    mine, theirs = row["gradcli"].get("grads"), row.get(anchor, {}).get("grads")
    if not mine or not theirs:
        return None
    return max(abs(a - b) / max(abs(a), abs(b), 1e-300) for a, b in zip(mine, theirs))


class Report:
    def __init__(self, data: dict):
        self.data = data
        self.targets: list[dict] = []

    def target(self, name: str, where: str, value: float | None, goal: float, at_least: bool,
               unit: str = "×", ok: bool | None = None) -> str:
        """Record one measurement of a target; returns the pass/FAIL mark for a table cell."""
        if value is not None and ok is None:
            ok = value >= goal if at_least else value <= goal
        self.targets.append({"name": name, "where": where, "value": value, "goal": goal,
                             "at_least": at_least, "unit": unit, "ok": ok})
        return "" if ok is None else " " + mark(ok)

    def engine(self) -> str:
        head = ["graph", "nodes", "compile", "forward", "backward", "engine", "bwd/fwd",
                "reference (compile s)", "engine/ref", "micrograd", "micrograd/engine", "torch",
                "torch/engine", "torch/(compile+engine)", "gradients agree"]
        rows = []
        for r in self.data["engine"]:
            g, nodes = r["gradcli"], r["graph"]["nodes"]
            where = f"{r['kind']} {nodes:,}"
            if "error" in g:
                rows.append([r["kind"], f"{nodes:,}", f"gradcli failed: {g['error']}"] + [""] * 12)
                continue
            s = g["seconds"]
            engine = s["forward"] + s["backward"]
            ratio = s["backward"] / s["forward"]
            cells = [r["kind"], f"{nodes:,}", us(s["compile"], nodes), us(s["forward"], nodes),
                     us(s["backward"], nodes), us(engine, nodes),
                     f"{ratio:.2f}" + self.target("engine: backward / forward", where, ratio,
                                                  BACKWARD_OVER_FORWARD, False)]
            cells += self._anchor_cells(r, "reference", engine, nodes, where)
            cells += self._anchor_cells(r, "micrograd", engine, nodes, where)
            cells += self._anchor_cells(r, "torch", engine, nodes, where)
            torch = r.get("torch") or {"error": ""}
            cells.append("–" if "error" in torch else
                         f"{(torch['forward'] + torch['backward']) / (engine + s['compile']):.1f}×")
            agree = {a: agreement(r, a) for a in ("reference", "micrograd", "torch")}
            bad = [f"{a} {d:.1e}" for a, d in agree.items() if d is not None and d > AGREE]
            good = [a for a, d in agree.items() if d is not None and d <= AGREE]
            cells.append(("**differ: " + ", ".join(bad) + "**") if bad else ", ".join(good) or "–")
            rows.append(cells)
        return _table(head, rows)

    def _anchor_cells(self, r: dict, anchor: str, engine: float, nodes: int, where: str) -> list:
        a = r.get(anchor)
        if a is None:
            return ["–", "–"]
        if "error" in a:
            if a["error"] == "RecursionError":
                self.target("engine: micrograd time / gradcli time", where, None,
                            MICROGRAD_RATIO, True)
                return [f"RecursionError (forward {us(a['forward'], nodes)})", "–"]
            return [a["error"], "–"]
        theirs = a["forward"] + a["backward"]
        cell = us(theirs, nodes)
        if anchor == "reference":
            cell += f" ({a['compile']:.1f})"
            ratio = engine / theirs
            return [cell, f"{ratio:.1f}×" + self.target(
                "engine: gradcli time / straight-line reference (goal)", where, ratio,
                REFERENCE_RATIO, False)]
        goal = MICROGRAD_RATIO if anchor == "micrograd" else TORCH_RATIO
        ratio = theirs / engine
        return [cell, f"{ratio:.1f}×" + self.target(
            f"engine: {anchor} time / gradcli time", where, ratio, goal, True)]

    def phases(self) -> str:
        head = ["graph", "statements", "parse µs/stmt", "compile", "forward", "backward",
                "edges", "notes", "differentiate", "JSON dump", "tables", "RSS after parse MB",
                "peak RSS MB", "KB/statement"]
        rows = []
        for r in self.data["engine"]:
            g = r["gradcli"]
            if "error" in g:
                continue
            s, stmts, nodes = g["seconds"], g["statements"], g["nodes"]
            parse = s["parse"] / stmts * 1e6
            rss = g["rss_mb"]
            peak = max(v for k, v in rss.items())
            rows.append([r["kind"], f"{stmts:,}", f"{parse:.3g}" + self.target(
                "parse, µs per statement", f"{r['kind']} {stmts:,}", parse, PARSE_US, False,
                " µs")]
                + [us(s.get(k), nodes) for k in ("compile", "forward", "backward", "edges", "notes",
                                                 "total", "json", "tables")]
                + [f"{rss['parse']:.0f}", f"{peak:.0f}",
                   f"{(peak - rss['start']) * 1024 / stmts:.2f}"])
        return _table(head, rows)

    def check(self) -> str:
        head = ["graph", "nodes", "check s", "µs/node", "unchecked (budget)", "per node vs 10^4"]
        rows = []
        by_kind: dict[str, dict[int, float]] = {}
        for r in self.data["engine"]:
            g = r["gradcli"]
            if "check" not in g:
                continue
            nodes = g["nodes"]
            per = g["check"] / nodes * 1e6
            by_kind.setdefault(r["kind"], {})[r["n"]] = per
            where = f"{r['kind']} {nodes:,}"
            cells = [r["kind"], f"{nodes:,}", f"{g['check']:.2f}", f"{per:.3g}",
                     f"{g['check_unchecked']:,}" + ("" if g["check_ok"] else " MISMATCH")]
            if r["n"] == 10**5:
                ok = per <= CHECK_US and g["check_unchecked"] == 0
                cells[3] += self.target("sympy check, µs per node at 10^5", where, per,
                                        CHECK_US, False, " µs", ok)
            small = by_kind[r["kind"]].get(10**4)
            if r["n"] == 10**5 and small:
                growth = per / small
                cells.append(f"{growth:.2f}×" + self.target(
                    "sympy check linear: per node at 10^5 / at 10^4", where, growth,
                    CHECK_LINEAR, False))
            else:
                cells.append("–")
            rows.append(cells)
        return _table(head, rows) if rows else "(no check runs)"

    def cli(self) -> str:
        head = ["graph", "statements", "wall s", "CPU s", "peak RSS MB", "peak KB/statement",
                "JSON MB", "targets"]
        rows = []
        for c in self.data["cli"]:
            stmts = c["graph"].get("statements", c["graph"]["nodes"])
            where = f"{c['kind']} {stmts:,}"
            if "error" in c:
                rows.append([c["kind"], f"{stmts:,}", c["error"], "", "", "", "", ""])
                continue
            goals = []
            if c["n"] in CLI_SECONDS:
                limit = CLI_SECONDS[c["n"]]
                goals.append(f"< {limit:g} s" + self.target(
                    f"CLI end to end at {c['n']:,} statements, s", where, c["wall"], limit,
                    False, " s"))
            if c["n"] in CLI_MB:
                limit = CLI_MB[c["n"]]
                goals.append(f"< {limit:g} MB" + self.target(
                    f"CLI peak RSS at {c['n']:,} statements, MB", where, c["rss_mb"], limit,
                    False, " MB"))
            rows.append([c["kind"], f"{stmts:,}", f"{c['wall']:.2f}", f"{c['cpu']:.2f}",
                         f"{c['rss_mb']:.0f}", f"{c['rss_mb'] * 1024 / stmts:.2f}",
                         f"{c['json_bytes'] / 1e6:.1f}", "; ".join(goals) or "–"])
        return _table(head, rows) if rows else "(no CLI runs)"

    def cold(self) -> str:
        cold = self.data["cold"]
        if not cold:
            return "(not run)"
        head = ["command", "median ms", "min ms", "torch / this", "target"]
        rows = []
        torch = cold["median"].get("torch")
        for name, cmd in cold["commands"].items():
            if name in cold["errors"]:
                rows.append([f"`{cmd}`", cold["errors"][name], "", "", ""])
                continue
            median = cold["median"][name]
            cells = [f"`{cmd}`", f"{median * 1e3:.0f}", f"{cold['min'][name] * 1e3:.0f}"]
            if name == "torch":
                cells += ["1", "–"]
            elif torch is None:
                cells += ["torch not installed", f"≥ {COLD[name]:g}×"]
            else:
                ratio = torch / median
                cells += [f"{ratio:.1f}×", f"≥ {COLD[name]:g}×" + self.target(
                    f"cold start, {COLD_NAMES[name]}: torch time / gradcli time",
                    "samples/seed.txt", ratio, COLD[name], True)]
            rows.append(cells)
        return _table(head, rows)

    def summary(self) -> str:
        """One row per target: its worst case over the graphs measured, and how far off."""
        head = ["target", "goal", "worst measured", "where", "graphs passing", "result"]
        groups: dict[str, list[dict]] = {}
        for t in self.targets:
            groups.setdefault(t["name"], []).append(t)
        rows = []
        for name, ts in groups.items():
            first = ts[0]
            measured = [t for t in ts if t["value"] is not None]
            sign = "≥" if first["at_least"] else "≤"
            goal = f"{sign} {first['goal']:g}{first['unit']}"
            if not measured:
                rows.append([name, goal, "not measurable", ", ".join(t["where"] for t in ts),
                             "–", "–"])
                continue
            pick = min if first["at_least"] else max
            worst = pick(measured, key=lambda t: t["value"])
            passing = sum(1 for t in measured if t["ok"])
            v = worst["value"]
            value = (f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}") + first["unit"]
            off = first["goal"] / worst["value"] if first["at_least"] else \
                worst["value"] / first["goal"]
            result = "pass" if all(t["ok"] for t in measured) else \
                f"**FAIL**: {off:.2g}× off" if off > 1 else "**FAIL**"
            unmeasurable = [t["where"] for t in ts if t["value"] is None]
            where = worst["where"] + (f" (not measurable: {', '.join(unmeasurable)})"
                                      if unmeasurable else "")
            rows.append([name, goal, value, where, f"{passing} of {len(measured)}", result])
        return _table(head, rows)


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=SOURCE["dir"], capture_output=True, text=True,
                          check=False)
    return done.stdout.strip()


def commit() -> str:
    """HEAD of the checkout measured, naming the files of gradcli/ changed but not committed."""
    dirty = [line[3:] for line in git("status", "--porcelain", "--", "gradcli").splitlines()]
    return (git("rev-parse", "--short", "HEAD") or "unknown") + \
        (f" + uncommitted changes ({', '.join(dirty)})" if dirty else "")


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
            f"{model}, {os.cpu_count()} CPUs")


def versions(data: dict) -> str:
    found = {}
    for r in data["engine"]:
        if r["gradcli"].get("gradcli"):
            found["gradcli from"] = str(Path(r["gradcli"]["gradcli"]).parent.parent)
        for anchor in ("torch", "micrograd"):
            if r.get(anchor, {}).get("version"):
                found[anchor] = r[anchor]["version"]
    return ", ".join(f"{k} {v}" for k, v in found.items()) or "no anchors"


def render(data: dict, meta: dict) -> str:
    report = Report(data)
    sections = [
        ("Engine: forward + backward, every gradient, µs per node (excluding parse)",
         report.engine(),
         "compile is evaluate.compile_tape, timed apart and not in `engine`; "
         "torch/(compile+engine) counts it, since torch's forward builds its graph. Best of 5 "
         "runs at 10^4, 3 at 10^5, 2 at 10^6, in each of 3, 2 and 1 interleaved rounds of fresh "
         "processes. `gradients agree`: every anchor's gradients at ~200 sampled nodes within "
         f"{AGREE:g} (relative) of gradcli's."),
        ("gradcli's pipeline, phase by phase (µs per node; parse per statement)", report.phases(),
         "notes: kink notes + where nan/inf came from; differentiate: core.differentiate(check=False), "
         "all phases but parse, JSON and tables, as the CLI runs them; JSON dump: render.dumps; "
         "tables: render.tables printed by rich (50 rows). KB/statement: (peak RSS − RSS at "
         "start) / statements."),
        ("CLI end to end: `gradcli eval FILE --format json --no-check`, output to a file",
         report.cli(), "median of 3 runs up to 10^5, 1 run at 10^6; peak RSS of the gradcli "
                       "process itself (os.wait4). Wall well above CPU means other work had "
                       "the CPU; the target is wall time."),
        ("The sympy check (symbolic.check on the Result; sympy's import not timed)",
         report.check(), "The check has a 10 s budget: statements it did not reach are counted "
                         "as unchecked, and a run with any unchecked fails the target."),
        ("Cold start: samples/seed.txt --x 3 --w 2 --b 1, whole process", report.cold(),
         f"{meta['cold_reps']} runs of each, interleaved (the order rotates each round), after "
         "one warm-up run each; wall time."),
    ]
    out = [f"Run with `{meta['command']}` at {meta['commit']}, {meta['date']}.",
           f"{meta['machine']}; load average {meta['load_min']:.1f} to {meta['load_max']:.1f} "
           f"during the run (sampled before each step; this machine has 2 CPUs and other work "
           f"on it); {meta['versions']}; {meta['minutes']:.1f} minutes."]
    if meta.get("source"):
        out[-1] += (f" `--gradcli-src` was a checkout of {meta['source']}: "
                    f"`git worktree add DIR {meta['source']}` measures it again.")
    out += ["", "### Targets", "", report.summary() if report.targets else "(none measured)"]
    for title, table, note in sections:
        out += ["", f"### {title}", "", table, "", note]
    return "\n".join(out) + "\n"


def write_results(label: str, body: str, date: str) -> None:
    marker = "<!-- runs: newest first -->"
    if RESULTS.exists():
        text = RESULTS.read_text()
    else:
        text = ("# gradcli benchmark results\n\nEach section is one run of `bench/run.py` "
                "(see bench/README.md for what each target means), newest first. Every figure "
                "is a ratio of things measured side by side in the same run on the same "
                "machine; compare ratios across runs, not absolute times.\n\n" + marker + "\n")
    head, _, rest = text.partition(marker)
    older = "\n" + rest.lstrip("\n") if rest.strip() else ""
    RESULTS.write_text(head + marker + "\n" + f"\n## {label} ({date})\n\n{body}" + older)


# --- main ---------------------------------------------------------------------------------------

def sizes(text: str) -> list[int]:
    return [int(float(s)) for s in text.split(",") if s]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=sizes, default=sizes("1e4,1e5,1e6"),
                   help="comma-separated node counts (default 1e4,1e5,1e6)")
    p.add_argument("--kinds", default="chain,dag,wide",
                   help="comma-separated: chain, dag, wide (anchors run these), mixed (gradcli "
                        "only: every op, ~10 per statement)")
    p.add_argument("--quick", action="store_true", help="10^4 nodes only, 5 cold starts")
    p.add_argument("--anchors", default="reference,micrograd,torch",
                   help="comma-separated subset of reference, micrograd, torch ('' for none)")
    p.add_argument("--reference-max", type=lambda s: int(float(s)), default=10**5,
                   help="largest graph for the straight-line reference (default 1e5: compiling "
                        "one function of 3 million lines takes ~10 GB)")
    p.add_argument("--check-sizes", type=sizes, default=sizes("1e4,1e5"),
                   help="sizes at which the sympy check runs (default 1e4,1e5)")
    p.add_argument("--cli-sizes", type=sizes, default=None,
                   help="sizes for the CLI end-to-end runs (default: every size)")
    p.add_argument("--cold-reps", type=int, default=15, help="cold starts of each (0: skip)")
    p.add_argument("--torch-python", default=sys.executable,
                   help="interpreter with torch, for the torch anchor and the cold start")
    p.add_argument("--gradcli-src", metavar="DIR",
                   help="measure the gradcli package in DIR (e.g. a `git worktree` of an older "
                        "commit), put first on PYTHONPATH of every child and CLI run")
    p.add_argument("--seed", type=int, default=1, help="random graph seed")
    p.add_argument("--write", action="store_true", help="add this run to bench/RESULTS.md")
    p.add_argument("--label", default="run", help="section title in bench/RESULTS.md")
    p.add_argument("--from-json", metavar="FILE",
                   help="print (and with --write, record) a saved run from bench/out/ again, "
                        "without measuring")
    p.add_argument("--child", metavar="SPEC", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.cold_reps = [10**4], min(args.cold_reps, 5)
    args.kinds = [k for k in args.kinds.split(",") if k]
    args.anchors = [a for a in args.anchors.split(",") if a]
    args.cli_sizes = args.sizes if args.cli_sizes is None else args.cli_sizes
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.child:
        child_main(args.child)
        return
    # Children write bytecode caches as a normal install does: with PYTHONDONTWRITEBYTECODE
    # every cold start would compile gradcli from source again.
    SOURCE["env"] = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        body = render(saved["data"], saved["meta"])
        print(body)
        if args.write:
            write_results(args.label, body, saved["meta"]["date"])
        return
    if args.gradcli_src:
        SOURCE["dir"] = Path(args.gradcli_src).resolve()
        path = os.pathsep.join([str(SOURCE["dir"]), os.environ.get("PYTHONPATH", "")])
        SOURCE["env"]["PYTHONPATH"] = path.rstrip(os.pathsep)
    if not importlib.util.find_spec("gradcli"):
        raise SystemExit("gradcli is not importable: run with the project's .venv/bin/python")
    started = time.perf_counter()
    LOADS.append(os.getloadavg()[0])
    meta = {"command": shlex.join([".venv/bin/python", "bench/run.py"] +
                                  (sys.argv[1:] if argv is None else argv)),
            "commit": commit(), "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "machine": machine(), "cold_reps": args.cold_reps}
    data = measure(args)
    LOADS.append(os.getloadavg()[0])
    meta.update(load_min=min(LOADS), load_max=max(LOADS), versions=versions(data),
                source=git("rev-parse", "--short", "HEAD") if args.gradcli_src else None,
                minutes=(time.perf_counter() - started) / 60)
    if meta["commit"] != commit():
        meta["commit"] += f", then {commit()} (the code changed during the run)"
    body = render(data, meta)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    (OUT / f"run-{stamp}.json").write_text(json.dumps({"meta": meta, "data": data}))
    (OUT / f"run-{stamp}.md").write_text(body)
    print(body)
    if args.write:
        write_results(args.label, body, meta["date"])
        log(f"added to {RESULTS.relative_to(ROOT)}")
    log(f"raw figures in bench/out/run-{stamp}.json")


if __name__ == "__main__":
    main()

"""The notebook's numbers, every way the notebook gets them, through the core and the CLI."""

import json

from click.testing import CliRunner
from conftest import SAMPLES, SEED, grads, run, values

from gradcli.cli import main

NOTEBOOK_GRADS = {"x": 2.0, "w": 3.0, "b": 1.0, "u": 1.0, "v": 1.0, "a": 1.0}
NOTEBOOK_VALUES = {"x": 3.0, "w": 2.0, "b": 1.0, "u": 6.0, "v": 7.0, "a": 7.0}


def test_core_gives_the_notebook_numbers():
    r = run(SEED, x=3, w=2, b=1)
    assert grads(r) == NOTEBOOK_GRADS
    assert values(r) == NOTEBOOK_VALUES
    assert [n.kind for n in r.nodes] == ["input"] * 3 + ["intermediate"] * 2 + ["output"]


def test_local_partials_are_the_notebooks_second_figure():
    r = run(SEED, x=3, w=2, b=1)
    assert [(e.source, e.target, e.local) for e in r.edges] == [
        ("x", "u", 2.0), ("w", "u", 3.0), ("u", "v", 1.0), ("b", "v", 1.0), ("v", "a", 1.0)]


def test_sample_file_json_through_cli():
    out = CliRunner().invoke(main, ["eval", str(SAMPLES / "seed.txt"), "--x", "3", "--w", "2",
                                    "--b", "1", "--format", "json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["gradients"] == NOTEBOOK_GRADS
    assert doc["values"] == NOTEBOOK_VALUES
    assert doc["output"] == "a"
    assert doc["inputs"] == {"x": 3.0, "w": 2.0, "b": 1.0}
    assert doc["check"]["ok"] is True
    assert doc["edges"][0] == {"from": "x", "to": "u", "local": 2.0}


def test_one_expression_and_the_named_graph_agree():
    whole = run("a = relu(x*w + b)", x=3, w=2, b=1)
    assert grads(whole) == {"x": 2.0, "w": 3.0, "b": 1.0, "a": 1.0}


def test_every_sample_runs_and_checks(tmp_path):
    import shlex
    for path in sorted(SAMPLES.glob("*.txt")):
        run_line = next(line for line in path.read_text().splitlines() if line.startswith("# run:"))
        args = shlex.split(run_line.split("gradcli", 1)[1])
        out = CliRunner().invoke(main, args + ["--format", "json"])
        assert out.exit_code == 0, (path.name, out.output)
        assert json.loads(out.output)["check"]["ok"] is True, path.name

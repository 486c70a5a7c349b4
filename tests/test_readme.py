"""The README tells the truth: its exit-status table is run row by row."""

import re
import shlex

import pytest
from click.testing import CliRunner
from conftest import ROOT

from gradcli.cli import main


def exit_table() -> list[tuple[str, str, int, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("<!-- exit-table -->")[1].split("<!-- /exit-table -->")[0]
    rows = []
    for line in table.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        graph, args, status, message = (c.strip("`") for c in cells)
        rows.append((graph, args, int(status), message))
    return rows


def _raw(cell: str) -> bytes:
    """The table's escapes: \\n, \\0 and \\xNN."""
    out = re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), cell)
    return out.replace("\\n", "\n").replace("\\0", "\0").encode("latin-1")


@pytest.mark.parametrize("graph, args, status, message", exit_table())
def test_readme_exit_table_row(tmp_path, monkeypatch, graph, args, status, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "g.txt").write_bytes(_raw(graph))
    result = CliRunner().invoke(main, ["eval", "g.txt", *shlex.split(args)], prog_name="gradcli")
    assert result.exit_code == status, result.output
    if status == 2:
        assert result.stdout == ""
        assert result.stderr.splitlines()[0] == message
    else:
        assert result.stdout and "Traceback" not in result.stderr


def test_table_has_every_exit_status_worth_a_row():
    assert {row[2] for row in exit_table()} == {0, 2}


def test_internal_error_is_one_line_and_exit_3(monkeypatch, tmp_path):
    import gradcli.core

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(gradcli.core, "differentiate", broken)
    (tmp_path / "g.txt").write_text("a = x")
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "g.txt"), "--x", "1"])
    assert result.exit_code == 3 and result.stdout == ""
    assert result.stderr == ("gradcli: internal error: RuntimeError: boom (set GRADCLI_DEBUG=1 "
                             "for the traceback; please report it)\n")
    debug = CliRunner().invoke(main, ["eval", str(tmp_path / "g.txt"), "--x", "1"],
                               env={"GRADCLI_DEBUG": "1"})
    assert isinstance(debug.exception, RuntimeError)

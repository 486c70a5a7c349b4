"""The README tells the truth: its exit-status table is run row by row, and every output it
shows is what the command prints."""

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


# --- pasted outputs -------------------------------------------------------------------------------
# A fenced block that starts with `$ gradcli ...` shows that command's output; a `...` line right
# after the command means only the end of the output is shown. Run at 100 columns, no colour.

_BLOCK = re.compile(r"(?m)^( *)```[a-z]*\n\1\$ (gradcli [^\n|]*)\n(.*?)\n\1```", re.DOTALL)


def pasted_outputs() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = []
    for indent, command, body in _BLOCK.findall(text):
        if not (ROOT / shlex.split(command)[2]).exists():
            continue  # an error example about a file the reader writes (g.txt)
        lines = [line[len(indent):] for line in body.splitlines()]
        blocks.append((command, "\n".join(lines)))
    return blocks


def _run_readme_command(command: str) -> str:
    args = shlex.split(command)[1:]
    result = CliRunner().invoke(main, args, prog_name="gradcli", env={"COLUMNS": "100",
                                                                       "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.stdout.rstrip("\n")


@pytest.mark.parametrize("command, shown", pasted_outputs(), ids=[c for c, _ in pasted_outputs()])
def test_readme_output_is_what_the_command_prints(monkeypatch, command, shown):
    monkeypatch.chdir(ROOT)
    actual = "\n".join(line.rstrip() for line in _run_readme_command(command).splitlines())
    shown = "\n".join(line.rstrip() for line in shown.splitlines())
    if shown.startswith("...\n"):
        assert actual.endswith(shown[4:]) or shown[4:] in actual
    else:
        assert actual == shown


@pytest.mark.parametrize("command", [
    "gradcli eval samples/seed.txt --x 3 --w 2 --b 1",
    "gradcli graph samples/seed.txt --x 3 --w 2 --b 1 --format mermaid",
    "gradcli graph samples/seed.txt --x 3 --w 2 --b 1 --format dot",
    "gradcli graph samples/seed.txt --x 3 --w 2 --b 1",
    "gradcli explain samples/seed.txt --x 3 --w 2 --b 1",
    "gradcli eval samples/seed.txt --x 3 --w 2 --b 1 --format markdown",
    "gradcli eval samples/seed.txt --x 3 --w 2 --b 1 --format latex --symbolic",
])
def test_readme_gallery_is_what_the_commands_print(monkeypatch, command):
    monkeypatch.chdir(ROOT)
    assert _run_readme_command(command) in (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_links_the_committed_svg():
    assert "](samples/seed.svg)" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert (ROOT / "samples" / "seed.svg").exists()

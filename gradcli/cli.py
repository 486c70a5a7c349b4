"""The command line: arguments in, a renderer chosen, errors mapped to exit codes."""

from __future__ import annotations

import contextlib
import gc
import os
import stat
import sys
import threading
import time

import click

from . import __version__
from .errors import ExitCode, GradcliError, InputError
from .inputs import parse_values, split_set_option, split_value_tokens

MAX_FILE_BYTES = 64 * 1024 * 1024  # documented in the README
DEFAULT_ROWS = 50

EPILOG = """\b
Examples:
  gradcli eval graph.txt --x 3 --w 2 --b 1
  gradcli eval graph.txt --x 3 --w 2 --b 1 --format json | jq .gradients
  gradcli eval graph.txt --x=-3 --w 2 --b 1 --symbolic
  echo 'a = relu(x*w + b)' | gradcli eval - --x 3 --w 2 --b 1
  gradcli eval graph.txt --x 3 --w 2 --b 1 --check all
  gradcli eval graph.txt --set format=1 --output u

\b
Exit status: 0 ok, 1 a check found a mismatch (results are still printed),
2 bad usage or bad input, 3 an internal error (a bug: please report it).
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="gradcli")
def main() -> None:
    """gradcli: every value and every partial derivative of a computation, checked.

    Write a computation as statements (u = x*w; v = u + b; a = relu(v)) and run
    `gradcli eval FILE --x 3 --w 2 --b 1`.
    """


# Commands that take a graph and its input values share these: the GRAPH argument,
# --NAME VALUE pairs (click's "forwarding unknown options" recipe), --set and --output.
GRAPH_COMMAND = {"ignore_unknown_options": True, "allow_extra_args": True,
                 "allow_interspersed_args": True}


def graph_command(function):
    function = click.option("--output", metavar="NAME",
                            help="Node to differentiate (default: the last assigned).")(function)
    function = click.option("--set", "set_values", multiple=True, metavar="NAME=VALUE",
                            help="Give an input a value (for names that clash with an option).")(function)
    return click.argument("graph", metavar="GRAPH")(function)


def run_graph_command(ctx: click.Context, graph: str, set_values, output, checks, symbolic: bool,
                      write_result, trace: bool = False) -> None:
    """Read GRAPH, bind the values, differentiate, hand the Result to `write_result`, and map
    every failure to its exit status. Each command is this plus its own writer."""
    # The pipeline makes millions of small acyclic objects; the cycle collector would only
    # rescan them (a third of the run time on a 10**5-statement graph).
    gc.disable()
    try:
        values = parse_values(split_value_tokens(list(ctx.args)) + split_set_option(set_values))
        name, text = read_graph(graph)
        from .core import differentiate, load
        with progress_on_stderr() as say:
            say(f"parsing {name}")
            loaded = load(name, text)
            result = differentiate(loaded, values, output=output, check=checks,
                                   symbolic=symbolic, trace=trace, progress=say)
        write_result(result)
    except GradcliError as error:
        click.echo(error.render(), err=True)
        ctx.exit(error.exit_code)
    except KeyboardInterrupt:
        _quiet_exit(130)
    except BrokenPipeError:
        _quiet_exit(141)  # the reader went away (`| head`): as a shell reports SIGPIPE
    except UnicodeEncodeError as error:
        shown = error.object[error.start:error.end]
        click.echo(f"error: cannot write the output: the output encoding ({error.encoding}) has no "
                   f"{ascii(shown)}\n  = hint: set PYTHONIOENCODING=utf-8 (or a UTF-8 locale)", err=True)
        ctx.exit(ExitCode.BAD_INPUT)
    except OSError as error:
        click.echo(f"error: cannot write the output: {error}", err=True)
        ctx.exit(ExitCode.BAD_INPUT)
    except Exception as error:
        if os.environ.get("GRADCLI_DEBUG"):
            raise
        click.echo(f"gradcli: internal error: {type(error).__name__}: {error} "
                   "(set GRADCLI_DEBUG=1 for the traceback; please report it)", err=True)
        ctx.exit(3)
    ctx.exit(ExitCode.OK if result.ok else ExitCode.CHECK_MISMATCH)


PROGRESS_AFTER = 1.0  # seconds: quicker work never shows a progress line


@contextlib.contextmanager
def progress_on_stderr():
    """Yield a function that names the current phase. On a terminal, once the work has taken
    PROGRESS_AFTER seconds, a spinner on stderr shows the phase and the time so far; it is
    erased when the work is done, before anything is written to stdout."""
    if not (sys.stderr and sys.stderr.isatty()) or os.environ.get("GRADCLI_NO_PROGRESS"):
        yield _ignore
        return
    phase, started = ["starting"], time.monotonic()
    lock, done, shown = threading.Lock(), threading.Event(), []

    def show() -> None:  # on the timer's thread
        from rich.console import Console
        from rich.live import Live
        from rich.spinner import Spinner
        with lock:
            if done.is_set():
                return
            spinner = Spinner("dots", _status_text(phase[0], started), style="green")
            # stdout is left alone: it belongs to the main thread and the output
            shown.append(Live(spinner, console=Console(stderr=True), transient=True,
                              redirect_stdout=False, redirect_stderr=False))
            shown[0].start()
        while not done.wait(0.25):
            with lock:
                if not done.is_set():
                    spinner.update(text=_status_text(phase[0], started))

    timer = threading.Timer(PROGRESS_AFTER, show)
    timer.daemon = True
    timer.start()
    try:
        yield lambda what: phase.__setitem__(0, what)
    finally:
        timer.cancel()
        with lock:
            done.set()
            if shown:
                shown[0].stop()


def _ignore(what: str) -> None:
    pass


def _status_text(phase: str, started: float) -> str:
    from rich.markup import escape
    return f"{escape(phase)} … {time.monotonic() - started:.0f} s"


@main.command("eval", epilog=EPILOG, context_settings=GRAPH_COMMAND)
@graph_command
@click.option("--format", "output_format",
              type=click.Choice(["table", "json", "markdown", "latex"]), default="table",
              show_default=True, help="Rich tables for people, JSON for scripts, Markdown or "
                                      "LaTeX tables to paste into a README, notes or slides.")
@click.option("--rows", type=click.IntRange(min=1), default=None, metavar="N",
              help="Table rows to show (default 50: mismatches, output, inputs, largest gradients).")
@click.option("--all", "all_rows", is_flag=True, help="Show every node and edge in the table.")
@click.option("--symbolic", is_flag=True, help="Also show closed-form derivatives (sympy).")
@click.option("--check", "checks", multiple=True,
              type=click.Choice(["sympy", "forward", "fd", "all"]),
              help="Check the gradients with sympy (default), forward mode, central finite "
                   "differences, or all three; repeatable.")
@click.option("--no-check", is_flag=True, help="Skip every check (sympy is then not imported).")
@click.option("--trace", is_flag=True,
              help="Also show the backward pass step by step: which contributions were added "
                   "into each node's gradient, and when it became final.")
@click.pass_context
def eval_command(ctx: click.Context, graph: str, set_values, output, output_format,
                 rows, all_rows, symbolic, checks, no_check, trace) -> None:
    """Evaluate GRAPH (a file, or - for stdin) and differentiate its output w.r.t. every node.

    Give each input a value with --NAME VALUE or --NAME=VALUE (negative values work:
    --x -3), or with --set NAME=VALUE.
    """
    run_graph_command(ctx, graph, set_values, output, () if no_check else check_methods(checks),
                      symbolic, lambda result: write(result, output_format,
                                                     None if all_rows else rows or DEFAULT_ROWS),
                      trace=trace)


EXPLAIN_EPILOG = """\b
Examples:
  gradcli explain graph.txt --x 3 --w 2 --b 1
  gradcli explain graph.txt --x=-3 --w 2 --b 1 --wrt w
  gradcli explain graph.txt --x 3 --w 2 --b 1 --format markdown >> NOTES.md
  gradcli explain graph.txt --x 3 --w 2 --b 1 --format latex > chain.tex

\b
A node with more than 20 paths to the output, or a path of more than 12
factors, is shown as the recurrence reverse mode computes instead:
grad(u) = sum over the users v of u of grad(v) * dv/du.

\b
Exit status: 0 ok, 2 bad usage or bad input (an unknown --wrt name too),
3 an internal error (a bug: please report it).
"""


@main.command("explain", epilog=EXPLAIN_EPILOG, context_settings=GRAPH_COMMAND)
@graph_command
@click.option("--wrt", multiple=True, metavar="NAME",
              help="A node to explain; repeatable (default: every node but the output, "
                   "the first 20).")
@click.option("--format", "output_format",
              type=click.Choice(["text", "json", "markdown", "latex"]), default="text",
              show_default=True, help="Text for people, JSON for scripts, Markdown for GitHub, "
                                      "LaTeX (a document for pdflatex) for notes or slides.")
@click.pass_context
def explain_command(ctx: click.Context, graph: str, set_values, output, wrt,
                    output_format) -> None:
    """Write out the chain rule for GRAPH: each node's paths to the output as products of
    local partials, symbolic and with numbers, and why a gradient is 0.

    Inputs take values as in `gradcli eval`. The numbers are eval's own: each local partial
    is the engine's edge value and each total the engine's gradient.
    """
    run_graph_command(ctx, graph, set_values, output, (), False,
                      lambda result: write_explanation(result, wrt, output_format))


def write_explanation(result, wrt: tuple[str, ...], output_format: str) -> None:
    if sys.stdout is None:
        raise OSError("standard output is closed")
    from .explain import explain
    from .explain_render import render
    indent = 2 if output_format == "json" and sys.stdout.isatty() else None
    emit(render(explain(result, list(wrt)), output_format, indent))


GRAPH_EPILOG = """\b
Examples:
  gradcli graph graph.txt --x 3 --w 2 --b 1
  gradcli graph graph.txt --x 3 --w 2 --b 1 -o graph.svg
  gradcli graph graph.txt --x 3 --w 2 --b 1 --format mermaid > graph.mmd
  gradcli graph graph.txt --x 3 --w 2 --b 1 --format dot | dot -Tpdf -o graph.pdf
  gradcli graph graph.txt --x 3 --w 2 --b 1 --show partials

\b
svg and png need Graphviz's `dot` program; dot, mermaid and text need nothing.
Exit status: 0 ok, 2 bad usage, bad input or no Graphviz, 3 an internal error.
"""


@main.command("graph", epilog=GRAPH_EPILOG, context_settings=GRAPH_COMMAND)
@graph_command
@click.option("--format", "figure_format", type=click.Choice(["text", "dot", "mermaid", "svg", "png"]),
              default=None, help="text (a tree in the terminal, the default), Graphviz dot, "
                                 "Mermaid, or svg/png drawn by Graphviz. With -o FILE, the "
                                 "default comes from FILE's extension.")
@click.option("-o", "out_file", metavar="FILE",
              help="Write the figure to FILE (- for standard output). Not --output, which "
                   "names the node to differentiate.")
@click.option("--show", type=click.Choice(["both", "values", "partials"]), default="both",
              show_default=True, help="Values and gradients on the nodes, local partials on the "
                                      "edges, or both.")
@click.pass_context
def graph_figure_command(ctx: click.Context, graph: str, set_values, output, figure_format,
                         out_file, show) -> None:
    """Draw GRAPH: inputs, intermediates and the output, each node's value and gradient, and
    each edge's local partial.

    Inputs take values as in `gradcli eval`; the check is not run (a picture needs no sympy).
    """
    run_graph_command(ctx, graph, set_values, output, (), False,
                      lambda result: write_figure(result, figure_format, out_file, show))


def write_figure(result, figure_format: str | None, out_file: str | None, show: str) -> None:
    from . import draw
    to_stdout = out_file in (None, "-")
    if not to_stdout and os.path.isdir(out_file):
        raise InputError(f"-o {out_file}: is a directory\n  = hint: name a file in it, such as "
                         f"{os.path.join(out_file, 'graph.svg')}")
    chosen = figure_format or ("text" if to_stdout else draw.format_for_path(out_file))
    if chosen == "text":
        _write_text_figure(draw.to_text(result, show), None if to_stdout else out_file)
        return
    if chosen == "png" and _is_terminal(None if to_stdout else out_file):
        raise InputError("--format png is binary and the output is a terminal\n"
                         "  = hint: write it to a file with -o graph.png, or pipe it to a program")
    if chosen in ("svg", "png"):
        data = draw.image(result, chosen, show)
    else:
        data = (draw.to_dot if chosen == "dot" else draw.to_mermaid)(result, show).encode("utf-8")
    emit(data, None if to_stdout else out_file)


def _write_text_figure(figure, path: str | None) -> None:
    from rich.console import Console
    if path is None:
        if sys.stdout is None:
            raise OSError("standard output is closed")
        console = Console(highlight=False, soft_wrap=False)
        console.on_broken_pipe = _raise_broken_pipe
    else:  # a file gets no colour and a fixed width, whatever the terminal
        import io
        console = Console(file=io.StringIO(), highlight=False, soft_wrap=False, width=120,
                          color_system=None, force_terminal=False)
    if isinstance(figure, str):
        emit(figure + "\n", path)  # a long listing skips rich's layout
        return
    console.print(figure)
    if path is None:
        sys.stdout.flush()
    else:
        emit(console.file.getvalue(), path)


def _is_terminal(path: str | None) -> bool:
    if path is None:
        return sys.stdout is not None and sys.stdout.isatty()
    try:  # only a character device can be a terminal; opening a FIFO to look would block
        if not stat.S_ISCHR(os.stat(path).st_mode):
            return False
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY)
    except OSError:
        return False
    try:
        return os.isatty(fd)
    finally:
        os.close(fd)


WRITE_CHUNK = 1 << 16


def emit(data: str | bytes, path: str | None = None) -> None:
    """Write the whole output to stdout (path None) or to FILE, or fail with an error.

    In chunks, each checked: one big write to a full disk or a closed pipe can come back short
    without raising. A regular FILE is written to a temporary file beside it and renamed into
    place, so a failure leaves nothing half written."""
    if isinstance(data, str):
        encoding = "utf-8" if path is not None or sys.stdout is None else sys.stdout.encoding
        data = data.encode(encoding or "utf-8")
    if path is None:
        if sys.stdout is None:
            raise OSError("standard output is closed")
        sys.stdout.flush()
        _write_all(sys.stdout.buffer, data)
        sys.stdout.buffer.flush()
        return
    try:
        _write_file(path, data)
    except OSError as e:
        raise InputError(f"-o {path}: cannot write: {e.strerror or e}") from None


def emit_chunks(chunks, end: str = "") -> None:
    """Write a document that comes in pieces to stdout, each as emit() would."""
    if sys.stdout is None:
        raise OSError("standard output is closed")
    encoding = sys.stdout.encoding or "utf-8"
    sys.stdout.flush()
    for chunk in chunks:
        _write_all(sys.stdout.buffer, chunk.encode(encoding))
    _write_all(sys.stdout.buffer, end.encode(encoding))
    sys.stdout.buffer.flush()


def _write_all(stream, data: bytes) -> None:
    """A buffered writer writes all it is given or raises; pieces keep each write small."""
    view = memoryview(data)
    for start in range(0, len(view), WRITE_CHUNK):
        stream.write(view[start:start + WRITE_CHUNK])


def _write_file(path: str, data: bytes) -> None:
    path = os.path.realpath(path)  # through a symlink to its file, not over the link
    if not _is_regular_or_new(path):  # /dev/stdout, a tty, a FIFO: written as it is
        with open(path, "wb") as f:
            _write_all(f, data)
        return
    import tempfile
    mode = os.stat(path).st_mode & 0o7777 if os.path.exists(path) else _default_mode()
    fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".gradcli-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            _write_all(f, data)
            os.fchmod(f.fileno(), mode)  # mkstemp makes 0600; keep what a plain open would give
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _is_regular_or_new(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def check_methods(chosen: tuple[str, ...]) -> tuple[str, ...]:
    if not chosen:
        return ("sympy",)
    if "all" in chosen:
        return ("sympy", "forward", "fd")
    return tuple(dict.fromkeys(chosen))


def read_graph(path: str) -> tuple[str, str]:
    """The graph's display name and text; every way reading can fail is an InputError."""
    if path == "-":
        if sys.stdin is None:
            raise InputError("<stdin>: cannot read: standard input is closed")
        try:
            name, data = "<stdin>", sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        except OSError as e:
            raise InputError(f"<stdin>: cannot read: {e.strerror or e}") from None
    else:
        name = path
        try:
            if os.path.isdir(path):
                raise InputError(f"{path}: is a directory, not a graph file")
            with open(path, "rb") as f:
                data = f.read(MAX_FILE_BYTES + 1)
        except OSError as e:
            raise InputError(f"{path}: cannot read: {e.strerror or e}") from None
    from .core import decode
    return name, decode(name, data, MAX_FILE_BYTES)


def write(result, output_format: str, rows: int | None) -> None:
    if sys.stdout is None:
        raise OSError("standard output is closed")
    from . import render
    if output_format in ("markdown", "latex"):
        from . import document
        emit(getattr(document, output_format)(result, rows) + "\n")
        return
    if output_format == "json":
        if sys.stdout.isatty():
            emit(render.dumps(result, indent=2) + "\n")
        else:
            emit_chunks(render.json_chunks(result), "\n")
        return
    from rich.console import Console
    console = Console(highlight=False, soft_wrap=False)
    console.on_broken_pipe = _raise_broken_pipe  # rich would exit 1, the mismatch status
    for renderable in render.tables(result, rows, console.width):
        if isinstance(renderable, str):
            console.file.write(renderable + "\n")  # long plain tables skip rich's layout
        else:
            console.print(renderable)
    sys.stdout.flush()  # a closed or full stdout fails here, inside the error handling


def _raise_broken_pipe() -> None:
    raise BrokenPipeError()


def _quiet_exit(status: int) -> None:
    try:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
    finally:
        raise SystemExit(status)

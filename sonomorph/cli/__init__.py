"""The ``sonomorph`` command: a thin layer over the Python API.

Each capability has a module here with a ``register(sub, groups)`` function that adds
its subcommands. ``sub`` is the top-level subparsers object; ``groups`` holds the
subparsers of the shared command groups (``train``, ``eval``, ``corpus``, ``export``,
``effect``), so ``sonomorph train separator`` and ``sonomorph train scream`` live in
different modules. A command handler takes the parsed arguments and returns an exit
status: 0 success, 1 some files in a batch failed, 2 bad input.

The global options (``-v``, ``-q``, ``--device``) are accepted before or after the command
name; the device is resolved here, once, before any command runs (``args.device`` is then
``"cpu"`` or ``"cuda"``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import warnings

from sonomorph import __version__
from sonomorph.errors import SonomorphError, printable_path
from sonomorph.utils.device import DEVICES

# Modules that register commands; each is imported lazily only to build the parser.
COMMAND_MODULES = (
    "sonomorph.cli.silence",
    "sonomorph.cli.separate",
    "sonomorph.cli.scream",
    "sonomorph.cli.accompany",
    "sonomorph.cli.style",
    "sonomorph.cli.analysis",
    "sonomorph.cli.corpus",
    "sonomorph.cli.effects",
    "sonomorph.cli.images",
    "sonomorph.cli.speakers",
    "sonomorph.cli.app",
)

GROUPS = {
    "train": "train a model",
    "eval": "evaluate a model beside baselines",
    "corpus": "build a synthetic training corpus offline",
    "export": "export a model (ONNX)",
    "effect": "DSP effects (no model)",
}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2 (argparse's own convention)."""

    def error(self, message: str):  # noqa: D401 - argparse API
        # The message quotes what was typed: control characters are shown escaped.
        self.exit(2, f"{self.prog}: error: {printable_path(message)}\n")


def add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """``-v``, ``-q`` and ``--device``. On the top parser they carry the defaults; on every
    command they are repeated with no default, so that a value given after the command
    name wins and one given before it is kept."""
    group = parser if top else parser.add_argument_group("global options")
    verbosity = group.add_mutually_exclusive_group()
    unset = {} if top else {"default": argparse.SUPPRESS}
    verbosity.add_argument("-v", "--verbose", action="count", **({"default": 0} if top else unset),
                           help="more messages; a traceback on errors")
    verbosity.add_argument("-q", "--quiet", action="store_true", **unset,
                           help="no progress bars or notes")
    group.add_argument("--device", choices=DEVICES, **({"default": "auto"} if top else unset),
                       help="where models run (default: auto, CUDA when available)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sonomorph",
        description="Transform audio with neural networks: karaoke, scream, vocals-to-song, "
        "style transfer, genre and speaker analysis.",
    )
    parser.add_argument("--version", action="version", version=f"sonomorph {__version__}")
    add_global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    groups = {}
    for name, help_text in GROUPS.items():
        gp = sub.add_parser(name, help=help_text, description=help_text)
        groups[name] = gp.add_subparsers(dest="subcommand", metavar="WHAT", parser_class=_Parser)
        gp.set_defaults(func=_group_help(gp))
    for modname in COMMAND_MODULES:
        try:
            module = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name == modname:  # capability not built yet
                continue
            raise
        module.register(sub, groups)
    for child in _below(parser):
        add_global_options(child, top=False)
    return parser


def _below(parser: argparse.ArgumentParser):
    """Every parser under ``parser`` (commands, groups, their subcommands)."""
    for action in parser._actions:  # argparse keeps no public list of subcommands
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield child
                yield from _below(child)


def _group_help(gp: argparse.ArgumentParser):
    def show(_args) -> int:
        gp.print_help()
        return 2

    return show


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return str(message).splitlines()[0] if str(message) else category.__name__


def _raise_interrupt(signum, frame):  # SIGTERM behaves like Ctrl-C: atomic writers clean up
    raise KeyboardInterrupt


def _exists_hint(exc: SonomorphError) -> str:
    """The error line; an output that exists gets the option that replaces it."""
    from sonomorph.errors import OutputExistsError
    from sonomorph.utils.fs import EXISTS_REASON

    text = str(exc)
    if isinstance(exc, OutputExistsError) and exc.reason == EXISTS_REASON:
        text += " (--force replaces it)"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose and args.quiet:
        parser.error("-v and -q cannot be used together")
    level = logging.WARNING - 10 * args.verbose if not args.quiet else logging.ERROR
    logging.basicConfig(level=max(level, logging.DEBUG), format="sonomorph: %(message)s")
    logging.captureWarnings(True)  # library warnings (e.g. a downmix) print as one "sonomorph:" line
    warnings.formatwarning = _one_line_warning
    if not args.verbose:
        warnings.simplefilter("ignore", FutureWarning)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        _resolve_device(args)
        return int(args.func(args) or 0)
    except SonomorphError as exc:
        if args.verbose:
            raise
        print(f"sonomorph: error: {_exists_hint(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sonomorph: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _resolve_device(args: argparse.Namespace) -> None:
    """Resolve ``--device`` once for every command: ``--device cuda`` without CUDA is a
    one-line error (exit 2) whatever the command. ``auto`` is resolved only for commands
    that run a model (torch is not imported for the others); training keeps ``auto`` for
    the trainer, which picks each process's GPU under torchrun."""
    from sonomorph.cli.common import resolve_device

    spec = args.device
    if spec == "cuda":
        resolve_device(spec)
    elif spec == "auto" and args.command not in NO_MODEL_COMMANDS and args.command != "train":
        args.device = resolve_device(spec)


#: Commands that run no neural network: ``auto`` stays unresolved (no torch import).
NO_MODEL_COMMANDS = ("remove-silence", "effect", "image", "corpus")


BROKEN_PIPE_STATUS = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader left


def run() -> None:  # console-script entry point wrapper for `python -m sonomorph`
    """Run :func:`main` and exit with its status. When the reader of our output goes away
    (``sonomorph classify *.wav | head -1``), stop quietly with status 141 instead of a
    BrokenPipeError traceback: stdout is flushed here, inside the handler, and on a broken
    pipe pointed at /dev/null so that the interpreter's own flush at exit cannot fail again."""
    try:
        try:
            status = main()
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        sys.exit(BROKEN_PIPE_STATUS)
    sys.exit(status)

"""Property-based tests of the command line: whatever text a user types, argument parsing
ends in a value or a one-line error with exit status 2, never a traceback; every number
option refuses NaN and infinities; and a command given a missing file says so in one line.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sonomorph.cli import build_parser, main
from sonomorph.cli.common import (
    closed_unit_float,
    non_negative_int,
    positive_float,
    positive_int,
    unit_float,
)
from sonomorph.errors import printable_path

PARSER = build_parser()


def _parsers(parser: argparse.ArgumentParser, seen=None):
    """Every parser and subparser, once."""
    seen = set() if seen is None else seen
    if id(parser) in seen:
        return
    seen.add(id(parser))
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub, seen)


ALL_PARSERS = list(_parsers(PARSER))
TYPED = [(p.prog, a.option_strings[0] if a.option_strings else a.dest, a.type)
         for p in ALL_PARSERS for a in p._actions
         if a.type is not None and a.type is not str and callable(a.type)]
# The command words: a path from the top parser to each subparser.
COMMANDS = sorted({tuple(p.prog.split()[1:]) for p in ALL_PARSERS})
OPTIONS = sorted({s for p in ALL_PARSERS for a in p._actions for s in a.option_strings})

NUMBERISH = st.one_of(
    st.integers(-10**30, 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "-nan", "inf", "-inf", "Infinity", "1e309", "-0", "0x10", "1_000",
                     "", " 3", "4 ", "٣", "1e-400", "9" * 5000, "0.9999999999999999999",
                     "1,5", "+2", "--", "-"]),
)
TEXT = st.one_of(NUMBERISH, st.text(max_size=30))


def test_the_parser_has_typed_options():
    names = {t.__name__ for _, _, t in TYPED}
    assert {"positive_int", "positive_float", "non_negative_int", "unit_float"} <= names
    assert len(COMMANDS) > 20 and len(OPTIONS) > 40


@pytest.mark.parametrize("prog, option, kind", TYPED, ids=[f"{p}:{o}" for p, o, _ in TYPED])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXT)
def test_every_option_type_gives_a_value_or_a_clean_refusal(prog, option, kind, text):
    try:
        value = kind(text)
    except (argparse.ArgumentTypeError, ValueError, TypeError):
        return  # argparse turns these into a one-line error, exit 2
    if isinstance(value, float):
        assert math.isfinite(value), f"{prog} {option} accepted {text!r} as {value}"


@settings(max_examples=200, deadline=None)
@given(text=NUMBERISH)
def test_shared_number_types_keep_their_promises(text):
    for kind, ok in ((positive_int, lambda v: isinstance(v, int) and v >= 1),
                     (non_negative_int, lambda v: isinstance(v, int) and v >= 0),
                     (positive_float, lambda v: math.isfinite(v) and v > 0),
                     (unit_float, lambda v: 0.0 <= v < 1.0),
                     (closed_unit_float, lambda v: 0.0 <= v <= 1.0)):
        try:
            value = kind(text)
        except argparse.ArgumentTypeError as exc:
            assert "\n" not in str(exc)
            continue
        assert ok(value), (kind.__name__, text, value)


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 10**12))
def test_valid_numbers_round_trip(n):
    assert positive_int(str(n)) == n and non_negative_int(str(n)) == n
    assert positive_float(str(n)) == float(n)
    assert unit_float(str(1.0 / (n + 1))) == 1.0 / (n + 1)
    assert closed_unit_float(str(1.0 / n)) == 1.0 / n


def _parse(argv: list[str]) -> tuple[int | None, str]:
    """Parse like `sonomorph ARGV`; (exit status or None when it parsed, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            PARSER.parse_args(argv)
        except SystemExit as exc:
            return exc.code, err.getvalue()
    return None, err.getvalue()


@st.composite
def argvs(draw) -> list[str]:
    words = list(draw(st.sampled_from(COMMANDS)))
    for _ in range(draw(st.integers(0, 6))):
        choice = draw(st.integers(0, 3))
        if choice == 0:
            words.append(draw(st.sampled_from(OPTIONS)))
        elif choice == 1:
            words.append(draw(NUMBERISH))
        elif choice == 2:
            words.append(f"{draw(st.sampled_from(OPTIONS))}={draw(TEXT)}")
        else:
            words.append(draw(st.text(max_size=20)))
    return words


@settings(max_examples=400, deadline=None)
@given(argv=argvs())
def test_any_command_line_parses_or_fails_in_one_line(argv):
    code, err = _parse(argv)
    assert code in (None, 0, 2), (argv, code, err)
    assert "Traceback" not in err
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and "error:" in lines[0], (argv, err)


# Cheap commands that read a file: a missing input is a one-line error naming it, whatever
# (valid) options come with it.
READERS = {
    "remove-silence": lambda src, out: ["remove-silence", src, "-o", out],
    "effect growl": lambda src, out: ["effect", "growl", src, "-o", out],
    "image encode": lambda src, out: ["image", "encode", src, "-o", out],
    "image decode": lambda src, out: ["image", "decode", src, "-o", out],
}


# File names as a shell hands them over: any bytes but NUL and "/", decoded the way Python
# decodes a command line (undecodable bytes become lone surrogates).
NAMES = st.one_of(
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00/"),
            min_size=1, max_size=40),
    st.binary(min_size=1, max_size=40).map(lambda b: b.replace(b"\x00", b"_").replace(b"/", b"_"))
    .map(os.fsdecode),
)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(sorted(READERS)), name=NAMES)
def test_a_missing_input_is_one_line_naming_it(command, name, tmp_path):
    src = str(tmp_path / f"missing {name}")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["-q", *READERS[command](src, str(tmp_path / "out"))])
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    assert code == 2, (command, name, err.getvalue())
    assert len(lines) == 1 and lines[0].startswith("sonomorph: error:"), err.getvalue()
    assert printable_path(src) in lines[0], lines[0]
    assert lines[0].isprintable()
    assert not (tmp_path / "out").exists()


@given(name=NAMES)
def test_printable_path(name):
    shown = printable_path(f"/x/{name}")
    assert shown.isprintable() and "\n" not in shown
    if name.isprintable():
        assert shown == f"/x/{name}"
    assert printable_path(os.fsencode(f"/x/{name}")) == shown

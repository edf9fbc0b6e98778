"""``sonomorph app`` (the web UI) and ``sonomorph demo`` (every capability on the examples).

Both only parse arguments: the UI is :mod:`sonomorph.app`, the demo :mod:`sonomorph.demo`.
"""

from __future__ import annotations

import argparse

from sonomorph.cli.common import device as _device


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535: {text}")
    return value


def _megabytes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 100_000:
        raise argparse.ArgumentTypeError(f"must be between 0 and 100000 MB: {text}")
    return value


def register(sub, groups) -> None:
    from sonomorph.app import DEFAULT_HOST, DEFAULT_MAX_UPLOAD_MB, DEFAULT_PORT
    from sonomorph.capabilities import CAPABILITIES, model_kinds
    from sonomorph.demo import add_arguments

    titles = [c.title for c in CAPABILITIES]
    tabs = ", ".join(titles[:-1]) + " and " + titles[-1]

    p = sub.add_parser(
        "app", help="the web UI: every capability in the browser",
        description=f"Start the web UI (Gradio) with one tab per capability: {tabs}. Upload or "
        "record audio, or upload several files at once (every tab but Speaker ID; one zip "
        "of all the results), listen to the results, look at their spectrograms and "
        "download them. Karaoke has the model, stems and format of `sonomorph separate`. "
        "Uses the shipped models unless --model names others. Listens on "
        f"{DEFAULT_HOST} (this computer only) unless --host says otherwise. Nothing is "
        "sent anywhere: analytics are off and no public link is made.")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default: {DEFAULT_HOST}; 0.0.0.0 = every "
                   "network interface: anyone who can reach this computer can use the app)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT,
                   help=f"port (default: {DEFAULT_PORT}; 0 = any free port)")
    p.add_argument("--max-upload-mb", type=_megabytes, default=DEFAULT_MAX_UPLOAD_MB,
                   metavar="MB", help=f"largest upload accepted (default: {DEFAULT_MAX_UPLOAD_MB:g} MB)")
    p.add_argument("--model", metavar="KIND=FILE", action="append", default=[],
                   help="use this model instead of the shipped one, e.g. "
                   f"separator=runs/sep/best.safetensors (kinds: {', '.join(model_kinds())}); "
                   "repeatable")
    p.add_argument("--open", action="store_true", help="open the app in the default browser")
    p.set_defaults(func=run_app)

    d = sub.add_parser(
        "demo", help="run every capability on the shipped examples; write an HTML report",
        description="Run every capability on the example inputs in examples/ with the shipped "
        "models, write the outputs under demo/out/<capability>/ and a report, "
        "demo/out/index.html (audio players, spectrograms, metrics), to open in a browser. "
        "A capability that is not in this build, or has no shipped model, is skipped with "
        "a note. The same as `make demo` and `python -m sonomorph.demo`.")
    add_arguments(d)
    d.set_defaults(func=run_demo)


def run_app(args) -> int:
    from sonomorph.app import launch
    from sonomorph.capabilities import parse_models

    launch(host=args.host, port=args.port, max_upload_mb=args.max_upload_mb,
           models=parse_models(args.model), device=_device(args), open_browser=args.open,
           quiet=args.quiet)
    return 0


def run_demo(args) -> int:
    from sonomorph.demo import run_from_args

    return run_from_args(args, device=_device(args))

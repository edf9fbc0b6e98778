"""``sonomorph image encode AUDIO -o DIR`` and ``sonomorph image decode IMG -o DIR``: audio to
spectrogram pictures (and back) in the original vocals-to-song project's 8-bit RGB layout
or the lossless 16-bit PNG and float encodings. The work is done by
:mod:`sonomorph.audio.images`."""

from __future__ import annotations

import argparse
from pathlib import Path

from sonomorph.cli.common import (
    ONE_FILE,
    Item,
    add_output_options,
    out_dir,
    plan_outputs,
    print_summary,
    run_batch,
)
from sonomorph.utils.progress import console

PICTURE, DECODED = "spectrogram", "decoded"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value


def _float(minimum: float, strict: bool):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value < float("inf"):  # NaN or infinity
            raise argparse.ArgumentTypeError(f"not a finite number: {text}")
        if value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {minimum}: {text}")
        return value

    return parse


def register(sub, groups) -> None:
    ENCODINGS = ("rgb8", "png16", "float")  # sonomorph.audio.images.ENCODINGS, no torch import here

    p = sub.add_parser("image", help="spectrogram images: encode audio, decode pictures",
                       description="Convert audio to spectrogram pictures for image-to-image "
                       "models and back.")
    image_sub = p.add_subparsers(dest="subcommand", metavar="WHAT", parser_class=type(p))
    p.set_defaults(func=lambda _args: (p.print_help(), 2)[1])

    e = image_sub.add_parser(
        "encode", help="audio -> spectrogram image",
        description="Write the STFT of an audio file as a picture. Encodings: rgb8 (the "
        "original project's 8-bit RGB PNG: magnitude in red at a fixed scale, phase in green; "
        "lossy), png16 (16-bit PNG of log magnitude and phase; the default for .png) and float "
        "(.npy of log magnitude and phase with a .json beside it; exact). The file carries its "
        "parameters, so `image decode` needs no options.")
    e.add_argument("audio", metavar="AUDIO", help="input audio file (any format, rate, channels)")
    add_output_options(e, command="image-encode", stems=(PICTURE,), filename=ONE_FILE,
                       formats=None)
    e.add_argument("--encoding", choices=ENCODINGS, default="png16",
                   help="rgb8 and png16 write a .png, float a .npy (default: png16)")
    e.add_argument("--n-fft", type=_positive_int, default=1024, metavar="N",
                   help="FFT size, even (default: 1024)")
    e.add_argument("--hop", type=_positive_int, default=256, metavar="N",
                   help="hop in samples, at most n_fft/2 (default: 256)")
    e.add_argument("--sr", type=_positive_int, default=None, metavar="HZ",
                   help="resample to this rate first (default: keep the file's; the original "
                   "used 44100)")
    e.add_argument("--mono", action="store_true", help="average the channels first")
    e.add_argument("--offset", type=_float(0.0, False), default=0.0, metavar="SECONDS",
                   help="start this far into the file (default: 0)")
    e.add_argument("--duration", type=_float(0.0, True), default=None, metavar="SECONDS",
                   help="encode only this much (default: all; the original used 15 s)")
    e.add_argument("--scale", type=_float(0.0, True), default=None, metavar="X",
                   help="rgb8 only: magnitude shown as full red (default: the original's 1.0)")
    e.set_defaults(func=run_encode)

    d = image_sub.add_parser(
        "decode", help="spectrogram image -> audio",
        description="Turn a picture written by `image encode` (or an 8-bit RGB PNG in the "
        "original project's 513-row layout) back into audio: magnitude x e^(i phase), then "
        "the inverse STFT.")
    d.add_argument("image", metavar="IMG", help="a .png or .npy written by `image encode`")
    add_output_options(d, command="image-decode", stems=(DECODED,), filename=ONE_FILE)
    d.set_defaults(func=run_decode)


def _one_output(args, src: str, stem: str, ext: str) -> Path:
    out = out_dir(args)
    return plan_outputs([Item(Path(src))], out, args.filename, (stem,), ext)[Path(src)][stem]


def run_encode(args) -> int:
    from sonomorph.audio.images import encode_file

    target = _one_output(args, args.audio, PICTURE, "npy" if args.encoding == "float" else "png")
    images = []

    def one(src: Path) -> list[Path]:
        images.append(encode_file(src, target, encoding=args.encoding, n_fft=args.n_fft,
                                  hop=args.hop, sample_rate=args.sr,
                                  channels=1 if args.mono else None, offset=args.offset,
                                  duration=args.duration, scale=args.scale,
                                  overwrite=args.force))
        return [p for p in (target, target.with_suffix(".json")) if p.exists()]

    report = run_batch([Path(args.audio)], one, description="encoding", quiet=args.quiet)
    if not args.quiet:
        p = images[0].params
        extra = (f", {100 * p['clipped_fraction']:.1f}% of bins clipped at scale {p['scale']:g}"
                 if p["encoding"] == "rgb8" else "")
        console.print(f"{p['encoding']}, {p['channels']} channel(s), "
                      f"{p['length'] / p['sample_rate']:.2f} s at {p['sample_rate']} Hz, "
                      f"n_fft {p['n_fft']}, hop {p['hop']}{extra}", highlight=False)
    print_summary(report, quiet=args.quiet)
    return 0


def run_decode(args) -> int:
    from sonomorph.audio.images import decode_file

    target = _one_output(args, args.image, DECODED, args.format)

    def one(src: Path) -> list[Path]:
        decode_file(src, target, bit_depth=args.bit_depth, overwrite=args.force)
        return [target]

    report = run_batch([Path(args.image)], one, description="decoding", quiet=args.quiet)
    print_summary(report, quiet=args.quiet)
    return 0

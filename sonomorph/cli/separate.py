"""``sonomorph separate``: vocals and karaoke from songs; ``sonomorph train separator`` and
``sonomorph eval separator``.

The commands only parse arguments: the work is done by
:class:`sonomorph.pipelines.separate.Separator`, the training recipe
:mod:`sonomorph.train.recipes.separator` and :func:`sonomorph.eval.baselines.evaluate_separation`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sonomorph.cli.common import (
    BIT_DEPTHS,
    Skipped,
    add_jobs_option,
    expand_inputs,
    non_negative_int,
    positive_float,
    run_batch,
    unit_float,
)
from sonomorph.utils.progress import console, progress_bar

DEFAULT_OUT = "separated"




def register(sub, groups) -> None:
    p = sub.add_parser(
        "separate",
        help="split songs into vocals and karaoke (accompaniment)",
        description="Separate the vocals of songs from the accompaniment. Writes "
        "<out>/<track>/vocals.<ext> and <out>/<track>/karaoke.<ext> for each song (folders "
        "are searched for audio files). Any length, in constant memory; outputs keep the "
        "input's sample rate and channels, and vocals + karaoke = the input.",
    )
    p.add_argument("inputs", nargs="+", metavar="SONG_OR_FOLDER",
                   help="audio files (wav, flac, mp3, ogg, m4a...) or folders of them")
    p.add_argument("-o", "--out", metavar="DIR", default=DEFAULT_OUT,
                   help=f"output folder (default: ./{DEFAULT_OUT})")
    p.add_argument("--stems", choices=("vocals", "karaoke", "both"), default="both",
                   help="which stems to write (default: both)")
    p.add_argument("--format", choices=("wav", "flac", "mp3"), default="wav",
                   help="output format (default: wav)")
    p.add_argument("--bit-depth", choices=BIT_DEPTHS, default="16",
                   help="wav/flac sample format (default: 16; 32f = 32-bit float, wav only)")
    add_jobs_option(p)
    p.add_argument("--overlap", type=unit_float, default=0.1, metavar="R",
                   help="overlap of consecutive chunks, a fraction of a chunk (default: 0.1)")
    p.add_argument("--chunk", type=positive_float, default=30.0, metavar="SECONDS",
                   help="chunk length; memory grows with it, not with the song (default: 30)")
    p.add_argument("--model", metavar="PATH", default="default",
                   help="a separator .safetensors file (default: the shipped model)")
    p.add_argument("--wiener", type=non_negative_int, default=0, metavar="N",
                   help="multichannel Wiener refinement iterations (default: 0, off; slower)")
    p.add_argument("--filename", metavar="TEMPLATE", default="{track}/{source}",
                   help="output name below the output folder, without extension; fields "
                   "{track} (input name) and {source} (vocals or karaoke); "
                   "default: {track}/{source}")
    p.add_argument("--skip-existing", action="store_true",
                   help="leave songs whose outputs all exist alone")
    p.add_argument("-f", "--force", action="store_true", help="replace existing outputs")
    p.set_defaults(func=run)

    if "train" in groups:
        from sonomorph.train.config import add_config_arguments

        t = groups["train"].add_parser(
            "separator", help="train the vocal separator",
            description="Train the vocal separator on a MUSDB18-HQ-layout folder (real "
            "MUSDB18-HQ or the synthetic corpus), a CCMixter folder, or a folder holding "
            "vocals/ and music/ sub-folders mixed on the fly. Validation SDR (BSSEval v4) "
            "every epoch; the best model is kept as <out>/best.safetensors.")
        t.add_argument("--data", required=True, metavar="DIR", help="training data folder")
        add_config_arguments(t)
        t.add_argument("--pretrain-noise-steps", type=non_negative_int, default=None,
                       metavar="N", help="first N steps on vocals mixed with coloured noise "
                       "instead of music (the original karaoke CNN's pre-training idea)")
        t.add_argument("--init-from", metavar="PATH", default=None,
                       help="start from the weights of a separator file ('default': the "
                       "shipped model) instead of random ones, e.g. to fine-tune on your songs")
        t.set_defaults(func=run_train)

    if "eval" in groups:
        e = groups["eval"].add_parser(
            "separator", help="score the separator beside baselines",
            description="Separate the tracks of a MUSDB18-HQ- or CCMixter-layout folder and "
            "print BSSEval v4 SDR (median over 1-s frames, then over tracks) and SI-SDR for "
            "vocals and accompaniment, beside the mixture, the oracle ideal ratio mask, "
            "centre-channel cancellation and REPET-SIM on the same tracks.")
        e.add_argument("--data", required=True, metavar="DIR", help="evaluation data folder")
        e.add_argument("--model", metavar="PATH", default="default",
                       help="separator .safetensors file (default: the shipped model)")
        e.add_argument("--split", default="test", help="split to score (default: test)")
        e.add_argument("--tracks", type=non_negative_int, default=0, metavar="N",
                       help="score only the first N tracks (default: all)")
        e.add_argument("--seconds", type=positive_float, default=None, metavar="S",
                       help="score S seconds from the middle of each track (default: all)")
        e.add_argument("--wiener", type=non_negative_int, default=0, metavar="N",
                       help="Wiener refinement iterations for the model (default: 0)")
        e.add_argument("--no-baselines", action="store_true", help="score the model only")
        e.add_argument("--json", metavar="PATH", help="also write the scores as JSON")
        e.set_defaults(func=run_eval)


def _device(args) -> str:
    import torch

    spec = getattr(args, "device", "auto")
    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return spec


def _collect(inputs: list[str], out: Path) -> list[tuple[Path, Path]]:
    """(file, output folder) pairs: songs found in a folder keep their sub-folders below
    the output folder; files inside the output folder are never taken as inputs."""
    out_resolved = out.resolve()
    pairs: list[tuple[Path, Path]] = []
    seen: set[Path] = set()
    for raw in inputs:
        root = Path(raw)
        for item in expand_inputs([raw]):
            resolved = item.resolve()
            if resolved in seen or out_resolved in resolved.parents:
                continue
            seen.add(resolved)
            target = out
            if root.is_dir():
                rel = item.parent.resolve().relative_to(root.resolve())
                target = out / rel
            pairs.append((item, target))
    return pairs


def run(args) -> int:
    from sonomorph.pipelines.separate import Separator, output_paths

    out = Path(args.out)
    pairs = _collect(args.inputs, out)
    if not pairs:
        from sonomorph.errors import AudioLoadError

        raise AudioLoadError("no audio files to separate (all inside the output folder?)", out)
    # Check the template and options once, before loading the model.
    output_paths(pairs[0][0], pairs[0][1], stems=args.stems, format=args.format,
                 filename=args.filename)
    separator = Separator(args.model, device=_device(args), chunk_seconds=args.chunk,
                          overlap=args.overlap, wiener_iterations=args.wiener)
    targets = dict(pairs)
    single = len(pairs) == 1

    def one(item: Path) -> None:
        outputs = output_paths(item, targets[item], stems=args.stems, format=args.format,
                               filename=args.filename)
        if args.skip_existing and all(p.exists() for p in outputs.values()):
            raise Skipped
        options = dict(stems=args.stems, format=args.format, bit_depth=args.bit_depth,
                       filename=args.filename, overwrite=args.force)
        if single:
            with progress_bar(f"separating {item.name}", None, quiet=args.quiet) as update:
                separator.separate_file(item, targets[item], progress=update, **options)
        else:
            separator.separate_file(item, targets[item], **options)

    report = run_batch([p for p, _ in pairs], one, description="separating", jobs=args.jobs,
                       quiet=args.quiet)
    if not args.quiet:
        what = {"both": "vocals + karaoke", "vocals": "vocals", "karaoke": "karaoke"}[args.stems]
        skipped = f", {len(report.skipped)} skipped (outputs exist)" if report.skipped else ""
        console.print(f"{len(report.done)} song(s) -> {what} in {out}{skipped}")
    return report.exit_code


def run_train(args) -> int:
    from sonomorph.train import Trainer, config_from_args
    from sonomorph.train.recipes.separator import SeparatorTask, SeparatorTrainConfig

    if args.pretrain_noise_steps is not None:
        args.overrides = [*args.overrides, f"pretrain_noise_steps={args.pretrain_noise_steps}"]
    args.overrides = [*args.overrides, f"data={json.dumps(str(args.data))}"]
    if args.init_from:
        args.overrides = [*args.overrides, f"init_from={json.dumps(str(args.init_from))}"]
    if not args.out:
        args.out = "runs/separator"
    cfg = config_from_args(SeparatorTrainConfig, args)
    result = Trainer(SeparatorTask(cfg), cfg, quiet=args.quiet).fit()
    if not args.quiet:
        best = (f"; best {result.best_metric:.2f} dB vocals SDR: {result.best}"
                if result.best else "")
        console.print(f"trained {result.step} steps -> {result.last}{best}")
    return 0


def run_eval(args) -> int:
    from sonomorph.eval.baselines import evaluate_separation, format_scores
    from sonomorph.pipelines.separate import Separator

    separator = Separator(args.model, device=_device(args), wiener_iterations=args.wiener)
    with progress_bar("evaluating", None, quiet=args.quiet) as update:
        scores = evaluate_separation(separator, args.data, split=args.split,
                                     tracks=args.tracks or None, seconds=args.seconds,
                                     baselines=not args.no_baselines, progress=update)
    print(format_scores(scores))
    if args.json:
        from sonomorph.utils.fs import atomic_write_text

        atomic_write_text(args.json, json.dumps(scores, indent=2, allow_nan=True) + "\n",
                          overwrite=True)
    sys.stdout.flush()
    return 0

"""``sonomorph accompany``: vocals to song; ``sonomorph train accompany`` and
``sonomorph eval accompany``.

The commands only parse arguments: the work is done by
:class:`sonomorph.pipelines.accompany.Accompanist`, the training recipe
:mod:`sonomorph.train.recipes.accompany` and
:func:`sonomorph.eval.accompany.evaluate_accompaniment`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sonomorph.cli.common import (
    BIT_DEPTHS,
    add_jobs_option,
    expand_inputs,
    non_negative_int,
    positive_float,
    run_batch,
    unit_float,
)
from sonomorph.utils.progress import console, progress_bar

DEFAULT_OUT = "accompanied"




def register(sub, groups) -> None:
    p = sub.add_parser(
        "accompany", help="vocals to song: generate an accompaniment for a vocal line",
        description="Generate an accompaniment that fits a vocal line (pix2pix on "
        "spectrograms). Writes <out>/<name>/song.<ext> (voice + accompaniment) and "
        "<out>/<name>/accompaniment.<ext> for each input; any length, sample rate and channel "
        "count (outputs keep the input's). The shipped model was trained on chorales: a "
        "melody in, the other voices out.")
    p.add_argument("inputs", nargs="+", metavar="VOCALS",
                   help="audio files of a voice (wav, flac, mp3...) or folders of them")
    p.add_argument("-o", "--out", metavar="DIR", default=DEFAULT_OUT,
                   help=f"output folder (default: ./{DEFAULT_OUT})")
    p.add_argument("--plot", action="store_true",
                   help="also write <out>/<name>/spectrograms.png (input and output)")
    p.add_argument("--model", metavar="PATH", default="default",
                   help="a generator .safetensors file (default: the shipped model)")
    p.add_argument("--phase", choices=("griffinlim", "model"), default="griffinlim",
                   help="phase of the output: Griffin-Lim refined from the model's estimate "
                   "(default) or the model's own")
    p.add_argument("--gl-iters", type=non_negative_int, default=16, metavar="N",
                   help="Griffin-Lim iterations (default: 16)")
    p.add_argument("--overlap", type=unit_float, default=0.25, metavar="R",
                   help="overlap of consecutive tiles, a fraction of a tile (default: 0.25)")
    p.add_argument("--format", choices=("wav", "flac", "mp3", "ogg"), default="wav",
                   help="output format (default: wav)")
    p.add_argument("--bit-depth", choices=BIT_DEPTHS, default="16",
                   help="wav/flac sample format (default: 16; 32f = 32-bit float, wav only)")
    add_jobs_option(p)
    p.add_argument("-f", "--force", action="store_true", help="replace existing outputs")
    p.set_defaults(func=run)

    if "train" in groups:
        from sonomorph.train.config import add_config_arguments

        t = groups["train"].add_parser(
            "accompany", help="train the vocals-to-song generator (pix2pix)",
            description="Train pix2pix (U-Net generator, 70x70 PatchGAN, adversarial + 100 x L1) "
            "on voice -> accompaniment (or -> mixture) spectrogram tiles of a MUSDB18-HQ-layout "
            "folder, split by song. Resumes from the output folder; the model with the best "
            "validation chroma similarity is kept as <out>/best.safetensors.")
        t.add_argument("--data", required=True, metavar="DIR", help="training data folder")
        t.add_argument("--target", choices=("accompaniment", "mixture"), default=None,
                       help="what the model generates (default: accompaniment; the original "
                       "generated the whole mixture)")
        t.add_argument("--tile-frames", type=non_negative_int, default=None, metavar="N",
                       help="training tile length in STFT frames, a multiple of 128 "
                       "(default: 128)")
        add_config_arguments(t)
        t.set_defaults(func=run_train)

    if "eval" in groups:
        e = groups["eval"].add_parser(
            "accompany", help="score generated accompaniments beside baselines",
            description="Generate accompaniments for the held-out songs of a multitrack folder "
            "and print chroma similarity (CQT, frame-wise cosine), onset F1 and log-spectral "
            "distance against the true accompaniment, beside silence, the voice itself, "
            "retrieval from the training songs, and the true accompaniment (ceiling).")
        e.add_argument("--data", required=True, metavar="DIR", help="evaluation data folder")
        e.add_argument("--model", metavar="PATH", default="default",
                       help="generator .safetensors file (default: the shipped model)")
        e.add_argument("--phase", choices=("griffinlim", "model", "both"), default="griffinlim",
                       help="output phase (default: griffinlim; both: one row for each)")
        e.add_argument("--split", default="test", help="split to score (default: test)")
        e.add_argument("--tracks", type=non_negative_int, default=0, metavar="N",
                       help="score only the first N tracks (default: all)")
        e.add_argument("--seconds", type=positive_float, default=None, metavar="S",
                       help="score S seconds from the middle of each track (default: all)")
        e.add_argument("--retrieval-tracks", type=non_negative_int, default=0, metavar="N",
                       help="retrieval searches the first N training songs (default: all)")
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
    """(file, its output folder) pairs: <out>/<name>, with the sub-folders of a folder input
    mirrored; files inside the output folder are never inputs."""
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
                target = out / item.parent.resolve().relative_to(root.resolve())
            pairs.append((item, target / item.stem))
    return pairs


def run(args) -> int:
    from sonomorph.errors import AudioLoadError
    from sonomorph.pipelines.accompany import Accompanist

    out = Path(args.out)
    pairs = _collect(args.inputs, out)
    if not pairs:
        raise AudioLoadError("no audio files to accompany (all inside the output folder?)", out)
    accompanist = Accompanist(args.model, device=_device(args), phase=args.phase,
                              overlap=args.overlap, gl_iters=args.gl_iters)
    targets = dict(pairs)
    single = len(pairs) == 1

    def one(item: Path) -> None:
        options = dict(format=args.format, bit_depth=args.bit_depth, overwrite=args.force,
                       plot=args.plot)
        if single:
            with progress_bar(f"accompanying {item.name}", None, quiet=args.quiet) as update:
                accompanist.accompany_file(item, targets[item], progress=update, **options)
        else:
            accompanist.accompany_file(item, targets[item], **options)

    report = run_batch([p for p, _ in pairs], one, description="accompanying", jobs=args.jobs,
                       quiet=args.quiet)
    if not args.quiet and report.done:
        console.print(f"{len(report.done)} voice(s) -> song + accompaniment in {out}")
    return report.exit_code


def run_train(args) -> int:
    from sonomorph.train import Trainer, config_from_args
    from sonomorph.train.recipes.accompany import AccompanyTask, AccompanyTrainConfig

    extra = [f"data={json.dumps(str(args.data))}"]
    if args.target is not None:
        extra.append(f"target={json.dumps(args.target)}")
    if args.tile_frames is not None:
        extra.append(f"tile_frames={args.tile_frames}")
    args.overrides = [*args.overrides, *extra]
    if not args.out:
        args.out = "runs/accompany"
    cfg = config_from_args(AccompanyTrainConfig, args)
    result = Trainer(AccompanyTask(cfg), cfg, quiet=args.quiet).fit()
    if not args.quiet:
        best = (f"; best validation chroma {result.best_metric:.3f}: {result.best}"
                if result.best else "")
        console.print(f"trained {result.step} steps -> {result.last}{best}")
    return 0


def run_eval(args) -> int:
    from sonomorph.eval.accompany import evaluate_accompaniment, format_scores
    from sonomorph.pipelines.accompany import Accompanist

    phases = ("griffinlim", "model") if args.phase == "both" else (args.phase,)
    names = {"griffinlim": "sonomorph pix2pix (Griffin-Lim phase)",
             "model": "sonomorph pix2pix (model phase)"}
    systems = {names[p]: Accompanist(args.model, device=_device(args), phase=p) for p in phases}
    with progress_bar("evaluating", None, quiet=args.quiet) as update:
        scores = evaluate_accompaniment(systems, args.data, split=args.split,
                                        tracks=args.tracks or None, seconds=args.seconds,
                                        baselines=not args.no_baselines,
                                        retrieval_tracks=args.retrieval_tracks or None,
                                        progress=update)
    print(format_scores(scores))
    if args.json:
        from sonomorph.utils.fs import atomic_write_text

        atomic_write_text(args.json, json.dumps(scores, indent=2, allow_nan=True) + "\n",
                          overwrite=True)
    sys.stdout.flush()
    return 0

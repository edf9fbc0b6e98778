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
    MANY_FILES,
    add_jobs_option,
    add_output_options,
    collect,
    non_negative_int,
    out_dir,
    pipeline_template,
    plan_outputs,
    positive_float,
    process_batch,
    quoted,
    train_model,
    unit_float,
)
from sonomorph.cli.common import device as _device
from sonomorph.utils.progress import progress_bar

STEMS = {"both": ("vocals", "karaoke"), "vocals": ("vocals",), "karaoke": ("karaoke",)}


def register(sub, groups) -> None:
    p = sub.add_parser(
        "separate",
        help="split songs into vocals and karaoke (accompaniment)",
        description="Separate the vocals of songs from the accompaniment. Writes "
        "<out>/<track>/vocals.<ext> and <out>/<track>/karaoke.<ext> for each song (folders "
        "are searched for audio files, their sub-folders kept). Any length, in constant "
        "memory; outputs keep the input's sample rate and channels, and vocals + karaoke = "
        "the input.",
    )
    p.add_argument("inputs", nargs="+", metavar="SONG_OR_FOLDER",
                   help="audio files (wav, flac, mp3, ogg, m4a...) or folders of them")
    add_output_options(p, command="separate", stems=STEMS["both"], filename=MANY_FILES)
    p.add_argument("--stems", choices=tuple(STEMS), default="both",
                   help="which stems to write (default: both)")
    add_jobs_option(p)
    p.add_argument("--overlap", type=unit_float, default=0.1, metavar="R",
                   help="overlap of consecutive chunks, a fraction of a chunk (default: 0.1)")
    p.add_argument("--chunk", type=positive_float, default=30.0, metavar="SECONDS",
                   help="chunk length; memory grows with it, not with the song (default: 30)")
    p.add_argument("--model", metavar="PATH", default="default",
                   help="a separator .safetensors file (default: the shipped model)")
    p.add_argument("--wiener", type=non_negative_int, default=0, metavar="N",
                   help="multichannel Wiener refinement iterations (default: 0, off; slower)")
    p.add_argument("--skip-existing", action="store_true",
                   help="leave songs whose outputs all exist alone")
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
                       "shipped model) instead of random ones, e.g. to fine-tune on your "
                       "songs; its architecture wins over model.*")
        t.set_defaults(func=run_train)

    if "eval" in groups:
        e = groups["eval"].add_parser(
            "separator", help="score the separator beside baselines",
            description="Separate the tracks of a MUSDB18-HQ- or CCMixter-layout folder, "
            "of one track folder or of a folder of track folders (stems vocals and "
            "accompaniment, or MUSDB's four; without a mixture file the mixture is their "
            "sum), and print BSSEval v4 SDR (median over 1-s frames, then over tracks) and SI-SDR for "
            "vocals and accompaniment, beside peers (--peer), the mixture, the oracle ideal "
            "ratio mask, centre-channel cancellation and REPET-SIM on the same tracks, for "
            "each split. The JSON records the sha256 and training steps of the weights "
            "scored, the tracks, and no absolute paths.")
        e.add_argument("--data", required=True, metavar="DIR",
                       help="evaluation data: a MUSDB18-HQ- or CCMixter-layout folder, or "
                       "a track folder such as song/{vocals,accompaniment}.wav")
        e.add_argument("--model", metavar="PATH", default="default",
                       help="separator .safetensors file (default: the shipped model)")
        e.add_argument("--split", action="append", metavar="SPLIT",
                       help="split to score; repeat for several, each printed and recorded "
                       "on its own (default: test)")
        e.add_argument("--peer", action="append", type=_peer_spec, metavar="NAME[=PATH]",
                       help="also score another project's separator on the same tracks: "
                       "'spleeter' (Spleeter 2-stem, weights converted by "
                       "benchmarks/peers/convert_spleeter.py; default "
                       "~/.cache/sonomorph/peers/spleeter-2stems.safetensors or "
                       "$SONOMORPH_SPLEETER_WEIGHTS) or 'spleeter=PATH'")
        e.add_argument("--tracks", type=non_negative_int, default=0, metavar="N",
                       help="score only the first N tracks (default: all)")
        e.add_argument("--seconds", type=positive_float, default=None, metavar="S",
                       help="score S seconds from the middle of each track (default: all)")
        e.add_argument("--wiener", type=non_negative_int, default=0, metavar="N",
                       help="Wiener refinement iterations for the model (default: 0)")
        e.add_argument("--no-baselines", action="store_true", help="score the model only")
        e.add_argument("--json", metavar="PATH", help="also write the scores as JSON")
        e.set_defaults(func=run_eval)


def run(args) -> int:
    from sonomorph.pipelines.separate import Separator

    out = out_dir(args)
    stems = STEMS[args.stems]
    items = {item.src: item for item in collect(args.inputs, out)}
    # Every name is checked before the model loads.
    plan = plan_outputs(list(items.values()), out, args.filename, stems, args.format)
    separator = Separator(args.model, device=_device(args), chunk_seconds=args.chunk,
                          overlap=args.overlap, wiener_iterations=args.wiener)

    def work(src: Path, outputs: dict[str, Path], progress) -> None:
        # The pipeline fills {source} itself and adds the extension.
        name = pipeline_template(args.filename, items[src], args.format, "{source}")
        separator.separate_file(src, out, stems=args.stems, format=args.format,
                                bit_depth=args.bit_depth, filename=name,
                                overwrite=args.force, progress=progress)

    return process_batch(args, plan, work, description="separating")


def run_train(args) -> int:
    from sonomorph.train.recipes.separator import SeparatorTask, SeparatorTrainConfig

    extra = [f"data={quoted(args.data)}"]
    if args.pretrain_noise_steps is not None:
        extra.append(f"pretrain_noise_steps={args.pretrain_noise_steps}")
    return train_model(args, SeparatorTask, SeparatorTrainConfig, default_out="runs/separator",
                       overrides=extra, best="{:.2f} dB vocals SDR")


def _peer_spec(text: str) -> tuple[str, str | None]:
    """``NAME`` or ``NAME=PATH`` of --peer."""
    import argparse

    name, _, path = text.partition("=")
    if name != "spleeter":
        raise argparse.ArgumentTypeError(f"unknown peer {name!r} (known: spleeter)")
    return name, (path or None)


def run_eval(args) -> int:
    from sonomorph.eval.baselines import MODEL_NAME, evaluate_separation, format_scores
    from sonomorph.eval.records import portable_path, weights_record
    from sonomorph.models import resolve_model
    from sonomorph.pipelines.separate import Separator

    model_path = resolve_model(None if args.model == "default" else args.model, "separator")
    separator = Separator(model_path, device=_device(args), wiener_iterations=args.wiener)
    models = {MODEL_NAME: {**weights_record(model_path, separator.meta),
                           "wiener_iterations": args.wiener}}
    peers = {}
    for _name, path in args.peer or []:  # only spleeter so far (_peer_spec)
        from sonomorph.eval.peers.spleeter import SpleeterSeparator

        peer = SpleeterSeparator(path, device=_device(args))
        peers[peer.name] = peer
        models[peer.name] = {**weights_record(peer.path, peer.meta),
                             "converted_from": peer.meta.get("source", {}),
                             "licences": peer.meta.get("licences", {})}
    splits = list(dict.fromkeys(args.split or ["test"]))
    results = {}
    for split in splits:
        label = "evaluating" if len(splits) == 1 else f"evaluating {split}"
        with progress_bar(label, None, quiet=args.quiet) as update:
            results[split] = evaluate_separation(
                separator, args.data, split=split, tracks=args.tracks or None,
                seconds=args.seconds, baselines=not args.no_baselines, peers=peers,
                progress=update)
    for i, (split, scores) in enumerate(results.items()):
        if len(results) > 1:
            print(("\n" if i else "") + f"## split {split}\n")
        print(format_scores(scores))
    if args.json:
        from sonomorph.utils.fs import atomic_write_text

        doc = {"data": portable_path(args.data), "seconds": args.seconds,
               "metric": "BSSEval v4 (museval) SDR/SIR/SAR/ISR: median over 1-s frames, then "
                         "over tracks; SI-SDR per whole excerpt, median over tracks",
               "models": models, "splits": results}
        atomic_write_text(args.json, json.dumps(doc, indent=2, allow_nan=True) + "\n",
                          overwrite=True)
    sys.stdout.flush()
    return 0

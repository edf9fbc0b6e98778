"""``sonomorph accompany``: vocals to song; ``sonomorph train accompany`` and
``sonomorph eval accompany``.

The commands only parse arguments: the work is done by
:class:`sonomorph.pipelines.accompany.Accompanist`, the training recipe
:mod:`sonomorph.train.recipes.accompany` and
:func:`sonomorph.eval.accompany.evaluate_accompaniment`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sonomorph.cli.common import (
    MANY_FILES,
    add_jobs_option,
    add_output_options,
    closed_unit_float,
    collect,
    device,
    model_row_name,
    non_negative_int,
    out_dir,
    plan_outputs,
    positive_float,
    process_batch,
    quoted,
    train_model,
    unit_float,
    write_json,
)
from sonomorph.errors import ConfigError
from sonomorph.utils.progress import console, progress_bar

STEMS = ("song", "accompaniment")
PLOT = "spectrograms"


def register(sub, groups) -> None:
    p = sub.add_parser(
        "accompany", help="vocals to song: generate an accompaniment for a vocal line",
        description="Generate an accompaniment that fits a vocal line (pix2pix on "
        "spectrograms). Writes <out>/<name>/song.<ext> (voice + accompaniment) and "
        "<out>/<name>/accompaniment.<ext> for each input, in stereo, at the input's length and "
        "sample rate; any length and channel count. The accompaniment gets a gentle stereo "
        "width from a decorrelated copy of the model's output; the voice sits in the centre, "
        "or keeps its own left and right when the input is stereo. The shipped model was trained on chorales: a "
        "melody in, the other voices out; a warning says when an input sounds like speech "
        "rather than singing. --filename chooses the folder of each input: it ends in "
        "{stem}.{ext}.")
    p.add_argument("inputs", nargs="+", metavar="VOCALS",
                   help="audio files of a voice (wav, flac, mp3...) or folders of them")
    add_output_options(p, command="accompany", stems=(*STEMS, PLOT), filename=MANY_FILES)
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
    p.add_argument("--width", type=closed_unit_float, default=0.3, metavar="W",
                   help="stereo width of the accompaniment, 0 to 1: the level of its "
                   "decorrelated side (default: 0.3; 0: the same accompaniment in both "
                   "channels)")
    add_jobs_option(p)
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
        t.add_argument("--condition", choices=("none", "chroma"), default=None,
                       help="chroma: also condition the generator on the voice's pitch-class "
                       "track, computed in the model from its input (default: none, the "
                       "plain pix2pix)")
        t.add_argument("--chroma-context", type=non_negative_int, default=None, metavar="N",
                       help="with --condition chroma: also give it that track averaged over "
                       "N frames around each frame, the phrase's pitch classes (default: 0, "
                       "none; 172 frames is 2 s)")
        t.add_argument("--init-from", metavar="PATH", default=None,
                       help="start the generator from the weights of an accompany file "
                       "('default': the shipped model) instead of random ones, e.g. to "
                       "fine-tune on your songs; its architecture wins over model.* and "
                       "--condition. The file holds the generator only: the discriminator "
                       "starts from random weights")
        add_config_arguments(t)
        t.set_defaults(func=run_train)

    if "eval" in groups:
        e = groups["eval"].add_parser(
            "accompany", help="score generated accompaniments beside baselines",
            description="Generate accompaniments for the held-out songs of a multitrack folder "
            "(MUSDB18-HQ layout, 4- or 2-stem tracks) and print, against the true "
            "accompaniment, chroma similarity (CQT, frame-wise cosine), onset F1, log-spectral "
            "distance and spectral flatness (the estimate's over the truth's), medians over "
            "songs, and the Fréchet distance to the true accompaniments in the genre "
            "classifier's embedding, beside silence, the voice itself, retrieval from the "
            "training songs, the true accompaniment shifted by 2-4 s (seeded), a sustained "
            "chord of the song's key, and the true accompaniment (ceiling), for each split. "
            "The JSON records the sha256 and training steps of the weights scored, the "
            "tracks, and no absolute paths.")
        e.add_argument("--data", required=True, metavar="DIR", help="evaluation data folder")
        e.add_argument("--model", metavar="PATH", action="append",
                       help="generator .safetensors file (default: the shipped model); "
                       "repeat to compare several on the same excerpts (rows named after "
                       "the files, with the folder when names clash)")
        e.add_argument("--phase", choices=("griffinlim", "model", "both"), default="griffinlim",
                       help="output phase (default: griffinlim; both: one row for each)")
        e.add_argument("--split", action="append", metavar="SPLIT",
                       help="split to score, e.g. test or test-real; repeat for several, each "
                       "printed and recorded on its own (default: test)")
        e.add_argument("--tracks", type=non_negative_int, default=0, metavar="N",
                       help="score only N tracks of each split, spread evenly over its sorted "
                       "list (default: all)")
        e.add_argument("--seconds", type=positive_float, default=None, metavar="S",
                       help="score S seconds from the middle of each track (default: all)")
        e.add_argument("--retrieval-tracks", type=non_negative_int, default=0, metavar="N",
                       help="retrieval searches N training songs spread evenly over the "
                       "train split (default: all)")
        e.add_argument("--seed", type=non_negative_int, default=0, metavar="N",
                       help="seed of the time-shifted truth's shifts (default: 0)")
        e.add_argument("--no-frechet", action="store_true",
                       help="skip the Fréchet distance (it needs the shipped genre model)")
        e.add_argument("--no-baselines", action="store_true", help="score the model only")
        e.add_argument("--json", metavar="PATH", help="also write the scores as JSON")
        e.set_defaults(func=run_eval)


def run(args) -> int:
    from sonomorph.pipelines.accompany import Accompanist
    from sonomorph.pipelines.analysis import speech_or_singing
    from sonomorph.utils.fs import check_output

    out = out_dir(args)
    stems = (*STEMS, PLOT) if args.plot else STEMS
    ext = {"song": args.format, "accompaniment": args.format, PLOT: "png"}
    plan = plan_outputs(collect(args.inputs, out), out, args.filename, stems, ext)
    for outputs in plan.values():  # the pipeline writes fixed names into one folder
        folders = {p.parent for p in outputs.values()}
        if len(folders) != 1 or any(p.name != f"{s}.{ext[s]}" for s, p in outputs.items()):
            raise ConfigError(f"--filename {args.filename!r}: accompany writes "
                              f"{', '.join(stems)} into one folder per input, so the "
                              "template must end in {stem}.{ext}")
    accompanist = Accompanist(args.model, device=device(args), phase=args.phase,
                              overlap=args.overlap, gl_iters=args.gl_iters,
                              width=args.width)

    def work(src: Path, outputs: dict[str, Path], progress) -> None:
        for path in outputs.values():  # a taken name is refused before any analysis
            check_output(path, overwrite=args.force, inputs=[src])
        verdict = speech_or_singing(src)
        if verdict.speech and not args.quiet:
            console.print(f"warning: {src.name} sounds like speech, not singing "
                          f"({verdict.describe()}); the model was trained on sung melodies "
                          "and may give little of use", highlight=False)
        accompanist.accompany_file(src, outputs["song"].parent, format=args.format,
                                   bit_depth=args.bit_depth, overwrite=args.force,
                                   plot=args.plot, progress=progress)

    return process_batch(args, plan, work, description="accompanying")


def run_train(args) -> int:
    from sonomorph.train.recipes.accompany import AccompanyTask, AccompanyTrainConfig

    extra = [f"data={quoted(args.data)}"]
    if args.target is not None:
        extra.append(f"target={quoted(args.target)}")
    if args.tile_frames is not None:
        extra.append(f"tile_frames={args.tile_frames}")
    if args.condition is not None:
        extra.append(f"model.condition={quoted(args.condition)}")
    if args.chroma_context is not None:
        extra.append(f"model.chroma_context={args.chroma_context}")
    return train_model(args, AccompanyTask, AccompanyTrainConfig, default_out="runs/accompany",
                       overrides=extra, best="validation chroma {:.3f}")


def run_eval(args) -> int:
    from sonomorph.eval.accompany import (
        GenreEmbedding,
        RetrievalBaseline,
        evaluate_accompaniment,
        format_scores,
    )
    from sonomorph.eval.records import portable_path, weights_record
    from sonomorph.models.checkpoint import resolve_model
    from sonomorph.pipelines.accompany import Accompanist

    phases = ("griffinlim", "model") if args.phase == "both" else (args.phase,)
    phase_names = {"griffinlim": "Griffin-Lim phase", "model": "model phase"}
    specs = args.model or ["default"]
    systems, models, taken = {}, {}, set()
    for spec in specs:
        path = resolve_model(None if spec == "default" else spec, "accompany")
        label = model_row_name(path, len(specs), taken, single="sonomorph pix2pix")
        taken.add(label)
        for p in phases:
            name = f"{label} ({phase_names[p]})"
            systems[name] = Accompanist(path, device=device(args), phase=p)
            models[name] = weights_record(path, systems[name].meta)
    embedding = None if args.no_frechet else GenreEmbedding()
    if embedding is not None:
        models["genre embedding"] = weights_record(embedding.path, embedding.meta)
    splits = list(dict.fromkeys(args.split or ["test"]))
    retrieval = None
    if not args.no_baselines:
        with progress_bar("retrieval database", None, quiet=args.quiet) as update:
            retrieval = RetrievalBaseline(args.data, tracks=args.retrieval_tracks or None,
                                          progress=update)
    results = {}
    for split in splits:
        label = "evaluating" if len(splits) == 1 else f"evaluating {split}"
        with progress_bar(label, None, quiet=args.quiet) as update:
            results[split] = evaluate_accompaniment(
                systems, args.data, split=split, tracks=args.tracks or None,
                seconds=args.seconds, baselines=not args.no_baselines, retrieval=retrieval,
                seed=args.seed, embedding=embedding, progress=update)
    for i, (split, scores) in enumerate(results.items()):
        if len(results) > 1:
            print(("\n" if i else "") + f"## split {split}\n")
        print(format_scores(scores))
    if args.json:
        doc = {"data": portable_path(args.data), "seconds": args.seconds, "seed": args.seed,
               "models": models,
               "retrieval_database": None if retrieval is None else {
                   "split": "train", "tracks": [t.name for t in retrieval.items]},
               "splits": results}
        write_json(args.json, doc)
    sys.stdout.flush()
    return 0

"""``sonomorph classify``, ``sonomorph train genre``, ``sonomorph eval genre`` and
``sonomorph eval speakers``.

The commands only parse arguments: the work is done by
:class:`sonomorph.pipelines.analysis.GenreClassifier`, the recipe
:mod:`sonomorph.train.recipes.genre` and :mod:`sonomorph.eval.analysis`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sonomorph.cli.common import (
    device,
    expand_inputs,
    positive_float,
    positive_int,
    quoted,
    run_batch,
    train_model,
    write_json,
)
from sonomorph.utils.progress import progress_bar

#: The shipped genre model's labels, spelled out so that building the parser loads no
#: model (tests/test_cli_conventions.py checks that they agree with the model file).
GENRES = ("bossa", "chorale", "electronic", "folk", "jazz", "quartet", "renaissance", "rock")
SURE, SHORT_S = 0.90, 2.5  # sonomorph.pipelines.analysis's thresholds (the same test checks)
#: What `eval speakers --features all` runs, those of a missing model left out
#: (sonomorph.pipelines.speaker_features.FEATURES, spelled out: building the parser loads no torch).
ALL_SPEAKER_FEATURES = ("gram", "resemblyzer", "ours", "adapted")


def register(sub, groups) -> None:
    p = sub.add_parser(
        "classify", help="name the genre of audio files (or say 'unsure' / 'not music')",
        description="Classify the genre of each file (folders are searched for audio): the "
        "clip is cut into 5-s segments, half overlapping, and their probabilities are "
        "averaged. The shipped model knows eight genres: " + ", ".join(GENRES) + ". "
        f"Prints one block per file: the answer, then the model's top genres with their "
        f"probabilities. The answer is the top genre when its probability is at least "
        f"{SURE:.0%}; below that it is 'not music' when the clip sounds like speech, else "
        f"'unsure'; a clip shorter than {SHORT_S:g} s is 'unsure' (thresholds calibrated on "
        "speech and music clips: benchmarks/results/classify-calibration.json).")
    p.add_argument("inputs", nargs="+", metavar="FILE", help="audio files or folders")
    p.add_argument("--model", metavar="PATH", default="default",
                   help="genre model .safetensors (default: the shipped model)")
    p.add_argument("--top", type=positive_int, default=3, metavar="K",
                   help="how many genres to print (default: 3)")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of text")
    p.set_defaults(func=run_classify)

    if "train" in groups:
        from sonomorph.train.config import add_config_arguments

        t = groups["train"].add_parser(
            "genre", help="train the genre classifier",
            description="Train a genre classifier on a GTZAN-layout folder (<genre>/<clip>.wav; "
            "real GTZAN or `sonomorph corpus genres`). The split is by track: the folder's "
            "split files (splits/train.txt, test.txt, or the fault-filtered "
            "*_filtered.txt lists) when present, else a stable hash. The model with the "
            "lowest validation loss is kept as <out>/best.safetensors.")
        t.add_argument("--data", required=True, metavar="DIR", help="GTZAN-layout folder")
        t.add_argument("--arch", choices=("tcn", "cnn"), default=None,
                       help="tcn: the stronger temporal CNN, fast on a CPU; cnn: the original "
                       "8-block 2-D CNN (~62k parameters, slow on a CPU) (default: tcn)")
        t.add_argument("--init-from", metavar="PATH", default=None,
                       help="start from the weights of a genre file ('default': the shipped "
                       "model) instead of random ones, e.g. to fine-tune on your clips; its "
                       "architecture wins over --arch, and its labels must be the data's "
                       "genre folders")
        add_config_arguments(t)
        t.set_defaults(func=run_train)

    if "eval" in groups:
        e = groups["eval"].add_parser(
            "genre", help="genre accuracy and a confusion matrix",
            description="Classify every clip of a split of a GTZAN-layout folder, print the "
            "accuracy and recall per genre, and write the confusion matrix as a PNG.")
        e.add_argument("--data", required=True, metavar="DIR", help="GTZAN-layout folder")
        e.add_argument("--model", metavar="PATH", default="default",
                       help="genre model .safetensors (default: the shipped model)")
        e.add_argument("--split", choices=("train", "valid", "test"), default="test",
                       help="split to score (default: test)")
        e.add_argument("--confusion", metavar="PNG", default="genre-confusion.png",
                       help="confusion-matrix image (default: genre-confusion.png)")
        e.add_argument("--json", metavar="PATH", help="also write the scores as JSON")
        e.set_defaults(func=run_eval_genre)

        s = groups["eval"].add_parser(
            "speakers", help="speaker-identification accuracy (original and real-speaker "
            "protocols)",
            description="Original protocol (default): on a VCTK-layout folder (or "
            "<speaker>/<files>), take the first N speakers, enrol each one's first "
            "utterances, identify each one's last utterances by 1-nearest-neighbour, and "
            "print the accuracy. Real-speaker protocol (--split test-real): every speaker of "
            "that split of a `corpus speech` folder (never seen in training), 8 enrolled and "
            "7 tested by default, every feature set on the same trials, side by side, with "
            "the open-set error rate ('unknown' threshold calibrated on the valid split's "
            "speakers) and a confusion-matrix PNG. Unreadable, silent or too-short clips are "
            "skipped and counted; speakers left with too few clips are dropped; a speaker "
            "count above the folder's uses all and says so.")
        s.add_argument("--data", required=True, metavar="DIR", help="VCTK-layout folder")
        s.add_argument("--speakers", type=positive_int, nargs="+", default=[4, 30],
                       metavar="N", help="speaker counts to run (original protocol; default: "
                       "4 30)")
        s.add_argument("--split", default=None, metavar="NAME",
                       help="run the real-speaker protocol on this split of a speech corpus "
                       "(test-real, valid or train: splits/NAME.txt)")
        s.add_argument("--enroll", type=positive_int, default=None, metavar="K",
                       help="first K usable utterances of each speaker enrolled (default: 9; "
                       "8 with --split)")
        s.add_argument("--test", type=positive_int, default=None, metavar="K",
                       help="last K usable utterances of each speaker tested (default: 6; "
                       "7 with --split)")
        s.add_argument("--min-seconds", type=positive_float, default=None, metavar="S",
                       help="clips shorter than S seconds are skipped (default: 0.5 with "
                       "--split, else only what the features cannot use)")
        s.add_argument("--features",
                       choices=("gram", "resemblyzer", "ours", "adapted", "both", "all"),
                       default=None,
                       help="gram: random-CNN time-Gram (the original); resemblyzer: a "
                       "pretrained speaker encoder; ours: our own encoder (the shipped one, "
                       "or a trained one given with --model); adapted: resemblyzer through "
                       "a speaker back-end fitted on our train speakers (the shipped one, or "
                       "a fitted one given with --backend); "
                       "both: gram and resemblyzer; all: every one that is available "
                       "(default: gram; all with --split)")
        s.add_argument("--model", metavar="PATH", default=None,
                       help="our speaker encoder for the 'ours' features (a `train "
                       "speaker-encoder` .safetensors; default: the shipped one, if any)")
        s.add_argument("--backend", metavar="PATH", default=None,
                       help="the speaker back-end for the 'adapted' features (a `train "
                       "speaker-backend` .safetensors; default: the shipped one, if any)")
        s.add_argument("--confusion", metavar="PNG", default=None,
                       help="with --split: confusion matrices, one per feature set, as a PNG "
                       "(default: speakers-confusion.png)")
        s.add_argument("--json", metavar="PATH", help="also write the results as JSON")
        s.set_defaults(func=run_eval_speakers)


def run_classify(args) -> int:
    from sonomorph.pipelines.analysis import GenreClassifier

    files = expand_inputs(args.inputs)
    classifier = GenreClassifier(args.model, device=device(args))

    def one(path: Path) -> None:
        answer = classifier.answer_file(path)
        top = answer.prediction.top(args.top)
        if args.json:
            print(json.dumps({"file": str(path), "answer": answer.text,
                              "reason": answer.reason,
                              "top": [[g, round(p, 4)] for g, p in top]}))
        else:
            why = f" ({answer.reason})" if answer.reason else ""
            print(f"{path}: {answer.text}{why}")
            for genre, prob in top:
                print(f"  {genre:<12} {prob:6.1%}")
        sys.stdout.flush()

    report = run_batch(files, one, description="classifying", quiet=args.quiet)
    return report.exit_code


def run_train(args) -> int:
    from sonomorph.train.recipes.genre import GenreTask, GenreTrainConfig

    extra = [f"data={quoted(args.data)}"]
    if args.arch:
        extra.append(f"arch={quoted(args.arch)}")
    return train_model(args, GenreTask, GenreTrainConfig, default_out="runs/genre",
                       overrides=extra, best="validation loss {:.3f}")


def run_eval_genre(args) -> int:
    from sonomorph.eval.analysis import evaluate_genre, format_genre, plot_confusion
    from sonomorph.pipelines.analysis import GenreClassifier

    classifier = GenreClassifier(args.model, device=device(args))
    with progress_bar("evaluating", None, quiet=args.quiet) as update:
        scores = evaluate_genre(classifier, args.data, split=args.split, progress=update)
    print(format_genre(scores))
    plot_confusion(scores, args.confusion)
    print(f"confusion matrix: {args.confusion}")
    if args.json:  # with the weights scored (file, sha256, steps): model cards cite it
        from sonomorph.eval.records import weights_record

        write_json(args.json, {**scores, "weights": {
            "model": weights_record(classifier.path, classifier.meta)}})
    return 0


def run_eval_speakers(args) -> int:
    from sonomorph.eval.analysis import evaluate_speakers, format_speakers

    everything = args.features == "all" or (args.split and args.features is None)
    for option, value, feature, what in (("--model", args.model, "ours", "our speaker encoder"),
                                         ("--backend", args.backend, "adapted",
                                          "the speaker back-end")):
        if value and not (args.features == feature or everything):
            from sonomorph.errors import ConfigError

            raise ConfigError(f"{option} is {what}: it goes with --features {feature} or all")
    if args.split:
        return _run_eval_speakers_split(args)
    kinds = {"both": ("gram", "resemblyzer"), "all": ALL_SPEAKER_FEATURES,
             None: ("gram",)}.get(args.features, (args.features,))
    if args.features == "all":  # "all": every feature set that is available
        from sonomorph.pipelines.speakers import (
            NO_BACKEND,
            NO_ENCODER,
            backend_available,
            encoder_available,
        )

        for kind, given, available, why in (("ours", args.model, encoder_available, NO_ENCODER),
                                            ("adapted", args.backend, backend_available,
                                             NO_BACKEND)):
            if not given and not available():
                kinds = tuple(k for k in kinds if k != kind)
                if not args.quiet:
                    print(f"{kind}: not available: {why}", file=sys.stderr)
    results = []
    for kind in kinds:
        for n in args.speakers:
            with progress_bar(f"{n} speakers ({kind})", None, quiet=args.quiet) as update:
                r = evaluate_speakers(args.data, speakers=n, enroll=args.enroll or 9,
                                      test=args.test or 6, features=kind,
                                      settings=_extractor_settings(args).get(kind),
                                      min_seconds=args.min_seconds or 0.0,
                                      device=device(args), progress=update)
            # Count and folder first, so that a results table reads without the id lists.
            results.append({"n_speakers": len(r["speakers"]), "data": str(args.data), **r})
    print(format_speakers(results))
    if args.json:
        write_json(args.json, results)
    return 0


def _extractor_settings(args) -> dict[str, dict]:
    """Extractor settings from --model (our speaker encoder's file, for 'ours') and
    --backend (the speaker back-end's file, for 'adapted')."""
    out = {}
    for kind, value in (("ours", getattr(args, "model", None)),
                        ("adapted", getattr(args, "backend", None))):
        if value:
            out[kind] = {"model": str(value)}
    return out


def _run_eval_speakers_split(args) -> int:
    from sonomorph.eval.analysis import (
        evaluate_speakers_split,
        format_speakers_split,
        plot_speaker_confusions,
    )

    kinds = {"both": ("gram", "resemblyzer"), "all": ALL_SPEAKER_FEATURES,
             None: ALL_SPEAKER_FEATURES}.get(args.features, (args.features,))
    # A --model or --backend that cannot be read is an error, not a feature set left out.
    optional = tuple(kind for kind, given in (("ours", args.model), ("adapted", args.backend))
                     if args.features in ("all", None) and not given)
    with progress_bar(f"{args.split} speakers", None, quiet=args.quiet) as update:
        r = evaluate_speakers_split(args.data, split=args.split, features=kinds,
                                    optional=optional, enroll=args.enroll or 8,
                                    test=args.test or 7, min_seconds=args.min_seconds or 0.5,
                                    device=device(args), settings=_extractor_settings(args),
                                    progress=update)
    from sonomorph.utils.fs import portable_path

    r = {"data": portable_path(args.data), **r}
    print(format_speakers_split(r))
    png = args.confusion or "speakers-confusion.png"
    plot_speaker_confusions(r, png)
    print(f"confusion matrices: {png}")
    if args.json:
        write_json(args.json, r)
    return 0

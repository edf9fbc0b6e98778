"""``sonomorph speakers enroll DIR`` and ``sonomorph speakers identify FILE``.

The work is done by :mod:`sonomorph.pipelines.speakers`; this module only parses arguments.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sonomorph.cli.common import device, expand_inputs, non_negative_int, positive_int, run_batch
from sonomorph.utils.progress import console, progress_bar


def register(sub, groups) -> None:
    DEFAULT_DB = "speakers.safetensors"  # sonomorph.pipelines.speakers.DEFAULT_DB (no torch here)
    DEFAULT_FEATURES = "adapted"  # sonomorph.pipelines.speakers.DEFAULT_FEATURES

    p = sub.add_parser("speakers", help="enrol speakers and identify who speaks",
                       description="Speaker identification by 1-nearest-neighbour over "
                       "utterance features kept in a .safetensors database.")
    verbs = p.add_subparsers(dest="verb", metavar="WHAT", parser_class=type(p))
    p.set_defaults(func=lambda _args: (p.print_help(), 2)[1])

    e = verbs.add_parser(
        "enroll", help="add the speakers of a folder to the database",
        description="Enrol every speaker of DIR: a VCTK-layout folder (wav48/<spk>/..., "
        "wav/<spk>/...) or a folder of <speaker>/<audio files>. Each utterance becomes one "
        "row of the database. An existing database is extended with the features it was "
        "made with (it records them; asking for other --features is an error) unless "
        "--force starts a new one. Clips shorter than the features need "
        "are padded by repeating them; clips under 0.1 s, silent or unreadable ones are "
        "skipped and counted in the summary (-v lists them). A clip whose bytes are already "
        "enrolled is not added again. --calibrate sets the distance beyond which identify "
        "answers 'unknown'.")
    e.add_argument("folder", metavar="DIR", help="folder of speakers")
    e.add_argument("--db", metavar="PATH", default=DEFAULT_DB,
                   help=f"speaker database (default: ./{DEFAULT_DB})")
    e.add_argument("--features", choices=("gram", "resemblyzer", "ours", "adapted"),
                   default=None,
                   help="adapted: resemblyzer through a speaker back-end fitted on our "
                   "train speakers (the shipped one, or a fitted one given with --backend), "
                   "the default because it is the best measured on held-out real speakers "
                   "(98.8%% 1-NN accuracy against 95.2%% for resemblyzer and 78.6%% for "
                   "gram, benchmarks/results/speakers-real.json); resemblyzer: a pretrained "
                   "speaker encoder; gram: random-CNN time-Gram, the original method; ours: "
                   "our own speaker encoder (the shipped one, or a trained one given with "
                   "--model) "
                   f"(default: {DEFAULT_FEATURES} for a new database, the database's own "
                   "for an existing one)")
    e.add_argument("--model", metavar="PATH", default=None,
                   help="our speaker encoder for --features ours (a `train speaker-encoder` "
                   ".safetensors; the database records its path and sha256, and identify "
                   "uses the same file)")
    e.add_argument("--backend", metavar="PATH", default=None,
                   help="the speaker back-end for --features adapted (a `train "
                   "speaker-backend` .safetensors; the database records its path and "
                   "sha256, and identify uses the same file)")
    e.add_argument("--per-speaker", type=positive_int, default=None, metavar="K",
                   help="enrol only the first K utterances of each speaker (default: all)")
    e.add_argument("--speakers", type=positive_int, default=None, metavar="N",
                   help="enrol only the first N speakers (sorted; all when the folder holds "
                   "fewer, and it says so) (default: all)")
    e.add_argument("--calibrate", metavar="HELDOUT", default=None,
                   help="folder of held-out speakers, not enrolled: set the 'unknown' "
                   "threshold at the equal-error point between enrolled speakers' own "
                   "utterances (each left out in turn) and these speakers' utterances; it is "
                   "stored in the database with how it was calibrated")
    e.add_argument("-f", "--force", action="store_true",
                   help="replace an existing database instead of extending it")
    e.set_defaults(func=run_enroll)

    i = verbs.add_parser(
        "identify", help="name the enrolled speaker nearest to each file",
        description="Print, for each file, the enrolled speaker whose nearest enrolled "
        "utterance is closest (cosine distance), then the runners-up with their distances. "
        "When the database has a calibrated threshold (speakers enroll --calibrate) and the "
        "nearest utterance is farther than it, the answer is 'unknown'. The features are "
        "those the database records (a gram database stays gram whatever the default of "
        "enroll). A clip shorter than the features need is padded by repeating it.")
    i.add_argument("inputs", nargs="+", metavar="FILE", help="audio files or folders")
    i.add_argument("--db", metavar="PATH", default=DEFAULT_DB,
                   help=f"speaker database (default: ./{DEFAULT_DB})")
    i.add_argument("--top", type=positive_int, default=5, metavar="K",
                   help="speakers listed with their distances (default: 5)")
    i.add_argument("--threshold", type=_threshold, default=None, metavar="D",
                   help="answer 'unknown' beyond this cosine distance; 'off' always names "
                   "someone (default: the database's calibrated threshold, if any)")
    i.add_argument("--json", action="store_true", help="print JSON lines instead of text")
    i.set_defaults(func=run_identify)

    if "train" in groups:
        from sonomorph.train.config import add_config_arguments

        t = groups["train"].add_parser(
            "speaker-encoder", help="train our own speaker encoder (features 'ours')",
            description="Train the small speaker encoder of `speakers --features ours` and "
            "`eval speakers`: a TDNN over log-mels with attentive statistics pooling (192-d "
            "unit embedding, about 0.7 M parameters), angular prototypical loss on batches "
            "of speakers x utterances from a `corpus speech` folder (its train split; the "
            "valid speakers validate: 1-NN accuracy and equal error rate, the lowest EER "
            "kept as OUT/best.safetensors; test-real is never read), each utterance "
            "augmented on its own (level, room, EQ, noise, narrow-band and mu-law "
            "channels). See sonomorph.train.recipes.speaker_encoder for keys.")
        add_config_arguments(t)
        t.add_argument("--data", metavar="DIR", default=None,
                       help="speech corpus (default: corpora/speech)")
        t.add_argument("--noise", metavar="DIR", default=None,
                       help="folder of noise files mixed in (default: coloured Gaussian noise)")
        t.add_argument("--init-from", metavar="PATH", default=None,
                       help="start from the weights of a speaker-encoder file ('default': the "
                       "shipped model) instead of random ones, e.g. to train it further on "
                       "more speakers; its architecture wins over the size keys, the loss's "
                       "scale and bias start afresh")
        t.add_argument("--threads", type=positive_int, default=None, metavar="N",
                       help="CPU threads for torch (default: torch's choice)")
        t.set_defaults(func=run_train)

        b = groups["train"].add_parser(
            "speaker-backend", help="fit the speaker back-end of the 'adapted' features",
            description="Fit the back-end of `speakers --features adapted` and `eval "
            "speakers`: resemblyzer's embedding of every clip of the train speakers of a "
            "`corpus speech` folder (real speakers only by default: ids starting with r-; "
            "valid and test-real speakers are never read), then, in closed form, their "
            "mean and the top --remove eigenvectors of the second moment of the centred, "
            "normalised embeddings: the adapted features are the embedding minus that "
            "mean, normalised, with those shared directions projected out, normalised. "
            "No gradient training, no steps. Byte-identical, unreadable, silent and "
            "shorter than 0.5 s clips are skipped and counted (-v lists them). Writes "
            "OUT/last.safetensors.")
        b.add_argument("--data", metavar="DIR", default="corpora/speech",
                       help="speech corpus (default: corpora/speech)")
        b.add_argument("--out", metavar="DIR", default="runs/speaker-backend",
                       help="output folder (default: runs/speaker-backend)")
        b.add_argument("--remove", type=non_negative_int, default=1, metavar="K",
                       help="shared directions projected out (default: 1; 0 only centres)")
        b.add_argument("--speakers", choices=("real", "all"), default="real",
                       help="real: the train split's real speakers (r-...); all: its "
                       "synthetic voices too (default: real)")
        b.add_argument("--max-clips", type=positive_int, default=None, metavar="N",
                       help="at most N usable clips of each speaker, the first in sorted "
                       "order (default: all)")
        b.add_argument("-f", "--force", action="store_true",
                       help="replace an earlier fit in the output folder")
        b.set_defaults(func=run_train_backend)


def _threshold(text: str) -> float:
    import argparse

    if text.lower() == "off":
        return float("inf")
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or 'off': {text!r}") from None
    if not 0.0 <= value <= 2.0:
        raise argparse.ArgumentTypeError(f"a cosine distance lies in [0, 2]: {text}")
    return value


def run_enroll(args) -> int:
    from sonomorph.pipelines.speakers import (
        DEFAULT_FEATURES,
        SpeakerDatabase,
        calibrate,
        check_features,
        enroll,
    )
    from sonomorph.utils.fs import check_output

    db_path = Path(args.db)
    db = None
    if db_path.exists() and not args.force:
        db = SpeakerDatabase.load(db_path)
    features = args.features or (db.method if db is not None else DEFAULT_FEATURES)
    from sonomorph.errors import ConfigError

    if args.model and features != "ours":
        raise ConfigError("--model is our speaker encoder: it goes with --features ours")
    if args.backend and features != "adapted":
        raise ConfigError("--backend is the speaker back-end: it goes with --features adapted")
    model = args.model or args.backend
    settings = {"model": model} if model else None
    if db is not None:  # one database, one feature set: refused before any work
        check_features(db, args.features, settings)
    else:
        check_output(db_path, overwrite=args.force)
    with progress_bar("enrolling", None, quiet=args.quiet) as update:
        result = enroll(args.folder, db, features=features, per_speaker=args.per_speaker,
                        speakers=args.speakers, device=device(args), progress=update,
                        settings=settings)
    db = result.db
    if args.calibrate:
        with progress_bar("calibrating", None, quiet=args.quiet) as update:
            cal = calibrate(db, args.calibrate, device=device(args), progress=update)
    db.save(db_path, overwrite=True)
    if result.note:  # said even with -q: the run did something else than asked
        print(f"sonomorph: note: {result.note}", file=sys.stderr)
    if getattr(args, "verbose", 0):
        for reason, messages in sorted(result.skipped.items()):
            for m in messages:
                print(f"  skipped ({reason}): {m}", file=sys.stderr)
    if not args.quiet:
        console.print(f"{result.summary()}; {db_path} holds {len(db.speakers)} speakers, "
                      f"{len(db.labels)} utterances ({db.method} features)", highlight=False)
        if args.calibrate:
            console.print(f"'unknown' beyond distance {cal['threshold']:.4f} (equal error rate "
                          f"{cal['equal_error_rate']:.1%}: {cal['genuine_trials']} enrolled "
                          f"utterances against {cal['heldout_clips']} clips of "
                          f"{cal['heldout_speakers']} held-out speakers)", highlight=False)
        elif db.threshold is not None and result.added:
            console.print(f"note: the 'unknown' threshold was calibrated with "
                          f"{(db.calibration or {}).get('enrolled_speakers', '?')} speakers "
                          "enrolled; --calibrate HELDOUT recalibrates it", highlight=False)
    return 0


def run_identify(args) -> int:
    from sonomorph.pipelines.speakers import UNKNOWN, SpeakerDatabase

    db = SpeakerDatabase.load(args.db)
    extractor = db.extractor(device(args))
    files = expand_inputs(args.inputs)

    def one(path: Path) -> None:
        ranked = db.identify_file(path, extractor=extractor)[: args.top]
        answer = db.decide(ranked, args.threshold)
        limit = db.threshold if args.threshold is None else args.threshold
        if args.json:
            print(json.dumps({"file": str(path),
                              "speaker": None if answer == UNKNOWN else answer,
                              "nearest": ranked[0].speaker,
                              "threshold": None if limit in (None, float("inf")) else limit,
                              "distances": {m.speaker: round(m.distance, 5) for m in ranked}}))
        elif answer == UNKNOWN:
            print(f"{path}: unknown (nearest {ranked[0].speaker}, distance "
                  f"{ranked[0].distance:.4f} > threshold {limit:.4f})")
        else:
            print(f"{path}: {answer} (distance {ranked[0].distance:.4f})")
        if not args.json:
            for m in ranked[1:]:
                print(f"  {m.speaker:<16} {m.distance:.4f}")
        sys.stdout.flush()

    report = run_batch(files, one, description="identifying", quiet=args.quiet)
    return report.exit_code


def run_train(args) -> int:
    from sonomorph.cli.common import train_model
    from sonomorph.train.recipes.speaker_encoder import SpeakerEncoderConfig, SpeakerEncoderTask

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    extra = [f"{key}={json.dumps(str(value))}" for key, value in
             (("data", args.data), ("noise", args.noise)) if value]
    return train_model(args, SpeakerEncoderTask, SpeakerEncoderConfig,
                       default_out="runs/speaker-encoder", overrides=extra,
                       best="validation EER {:.3f}")


def run_train_backend(args) -> int:
    from sonomorph.pipelines.speaker_features import feature_versions, make_extractor, skip_reason
    from sonomorph.train.recipes.speaker_backend import OUT_NAME, fit_from_corpus, train_speakers
    from sonomorph.utils.fs import check_output

    # The cheap refusals (no corpus, no such speakers, an earlier fit) before resemblyzer loads.
    if args.remove >= 256:
        from sonomorph.errors import ConfigError

        raise ConfigError(f"--remove must be below 256, resemblyzer's embedding size: "
                          f"{args.remove}")
    groups = train_speakers(args.data, args.speakers)
    check_output(Path(args.out) / OUT_NAME, overwrite=args.force)
    extractor = make_extractor("resemblyzer", device=device(args))
    with progress_bar("fitting the speaker back-end", None, quiet=args.quiet) as update:
        r = fit_from_corpus(args.data, args.out, remove=args.remove, speakers=args.speakers,
                            max_clips=args.max_clips, progress=update, extractor=extractor,
                            skip_reason=skip_reason, features=feature_versions(extractor),
                            overwrite=args.force, groups=groups)
    if getattr(args, "verbose", 0):
        for reason, messages in sorted(r["skipped_clips"].items()):
            for m in messages:
                print(f"  skipped ({reason}): {m}", file=sys.stderr)
    if not args.quiet:
        skipped = sum(r["skipped"].values())
        reasons = ", ".join(f"{n} {k}" for k, n in r["skipped"].items())
        share = ", ".join(f"{s:.1%}" for s in r["nuisance_share"])
        console.print(
            f"fitted the speaker back-end on {r['clips']} clips of {len(r['speakers'])} of "
            f"{len(groups)} {args.speakers} train speakers, {r['remove']} direction(s) removed"
            + (f" ({share} of the centred energy)" if share else "")
            + (f"; {skipped} clips skipped ({reasons})" if skipped else "")
            + f" -> {r['out']}", highlight=False)
    return 0

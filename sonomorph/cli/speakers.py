"""``sonomorph speakers enroll DIR`` and ``sonomorph speakers identify FILE``.

The work is done by :mod:`sonomorph.pipelines.speakers`; this module only parses arguments.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sonomorph.cli.common import expand_inputs, positive_int, run_batch
from sonomorph.utils.progress import console, progress_bar


def register(sub, groups) -> None:
    DEFAULT_DB = "speakers.safetensors"  # sonomorph.pipelines.speakers.DEFAULT_DB (no torch here)

    p = sub.add_parser("speakers", help="enrol speakers and identify who speaks",
                       description="Speaker identification by 1-nearest-neighbour over "
                       "utterance features kept in a .safetensors database.")
    verbs = p.add_subparsers(dest="verb", metavar="WHAT", parser_class=type(p))
    p.set_defaults(func=lambda _args: (p.print_help(), 2)[1])

    e = verbs.add_parser(
        "enroll", help="add the speakers of a folder to the database",
        description="Enrol every speaker of DIR: a VCTK-layout folder (wav48/<spk>/..., "
        "wav/<spk>/...) or a folder of <speaker>/<audio files>. Each utterance becomes one "
        "row of the database. An existing database is extended (with the features it was "
        "made with) unless --force starts a new one.")
    e.add_argument("folder", metavar="DIR", help="folder of speakers")
    e.add_argument("--db", metavar="PATH", default=DEFAULT_DB,
                   help=f"speaker database (default: ./{DEFAULT_DB})")
    e.add_argument("--features", choices=("gram", "resemblyzer"), default="gram",
                   help="gram: random-CNN time-Gram (the original method); resemblyzer: a "
                   "pretrained speaker encoder, more accurate (default: gram; for a new "
                   "database only)")
    e.add_argument("--per-speaker", type=positive_int, default=None, metavar="K",
                   help="enrol only the first K utterances of each speaker (default: all)")
    e.add_argument("-f", "--force", action="store_true",
                   help="replace an existing database instead of extending it")
    e.set_defaults(func=run_enroll)

    i = verbs.add_parser(
        "identify", help="name the enrolled speaker nearest to each file",
        description="Print, for each file, the enrolled speaker whose nearest enrolled "
        "utterance is closest (cosine distance), then the runners-up with their distances.")
    i.add_argument("inputs", nargs="+", metavar="FILE", help="audio files or folders")
    i.add_argument("--db", metavar="PATH", default=DEFAULT_DB,
                   help=f"speaker database (default: ./{DEFAULT_DB})")
    i.add_argument("--top", type=positive_int, default=5, metavar="K",
                   help="speakers listed with their distances (default: 5)")
    i.add_argument("--json", action="store_true", help="print JSON lines instead of text")
    i.set_defaults(func=run_identify)


def _device(args) -> str:
    import torch

    spec = getattr(args, "device", "auto")
    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return spec


def run_enroll(args) -> int:
    from sonomorph.pipelines.speakers import SpeakerDatabase, enroll_folder
    from sonomorph.utils.fs import check_output

    db_path = Path(args.db)
    db = None
    if db_path.exists() and not args.force:
        db = SpeakerDatabase.load(db_path)
    else:
        check_output(db_path, overwrite=args.force)
    before = len(db.labels) if db is not None else 0
    with progress_bar("enrolling", None, quiet=args.quiet) as update:
        db = enroll_folder(args.folder, db, features=args.features,
                           per_speaker=args.per_speaker, device=_device(args), progress=update)
    db.save(db_path, overwrite=True)
    if not args.quiet:
        console.print(f"enrolled {len(db.labels) - before} utterances; {db_path} holds "
                      f"{len(db.speakers)} speakers, {len(db.labels)} utterances "
                      f"({db.method} features)", highlight=False)
    return 0


def run_identify(args) -> int:
    from sonomorph.pipelines.speakers import SpeakerDatabase

    db = SpeakerDatabase.load(args.db)
    extractor = db.extractor(_device(args))
    files = expand_inputs(args.inputs)

    def one(path: Path) -> None:
        ranked = db.identify_file(path, extractor=extractor)[: args.top]
        if args.json:
            print(json.dumps({"file": str(path), "speaker": ranked[0].speaker,
                              "distances": {m.speaker: round(m.distance, 5) for m in ranked}}))
        else:
            print(f"{path}: {ranked[0].speaker} (distance {ranked[0].distance:.4f})")
            for m in ranked[1:]:
                print(f"  {m.speaker:<16} {m.distance:.4f}")
        sys.stdout.flush()

    report = run_batch(files, one, description="identifying", quiet=args.quiet)
    return report.exit_code

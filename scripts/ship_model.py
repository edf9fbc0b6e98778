"""Copy a trained model into ``sonomorph/pretrained/`` as the shipped default.

Usage: .venv/bin/python scripts/ship_model.py KIND RUN_FILE [--half]

Loads ``RUN_FILE`` (a ``best.safetensors`` / ``last.safetensors`` of a training run),
optionally stores its weights as float16 (they load back as float32), keeps its metadata
(step, total_steps, metrics, train_config) and writes ``sonomorph/pretrained/KIND.safetensors``
atomically. Prints the sha256 of the written file: the card and the results files name it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sonomorph import pretrained
from sonomorph.models.checkpoint import RESERVED_KEYS, load_model, save_model
from sonomorph.utils.hashing import sha256_file


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kind", help="separator, scream, accompany, genre ...")
    ap.add_argument("run_file", type=Path)
    ap.add_argument("--half", action="store_true", help="store float16 weights")
    args = ap.parse_args(argv)
    model, meta = load_model(args.run_file, expect=args.kind)
    if args.half:
        model = model.half()
    keep = {k: v for k, v in meta.items() if k not in RESERVED_KEYS}
    keep["shipped_from"] = args.run_file.name
    out = save_model(pretrained.PRETRAINED_DIR / f"{args.kind}.safetensors", model, meta=keep,
                     overwrite=True)
    print(f"{out}: step {meta.get('step')}, total_steps {meta.get('total_steps')}, "
          f"sha256 {sha256_file(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

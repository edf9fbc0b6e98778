"""Interpolate the weights of two checkpoints of one model (a two-ingredient "model soup").

Usage: .venv/bin/python scripts/average_weights.py BASE TUNED OUT --alpha A

Writes ``(1 - A) * BASE + A * TUNED`` for every floating-point tensor (integer buffers such
as batch norm's ``num_batches_tracked`` come from TUNED). Both files must hold the same
model with the same constructor arguments; TUNED is normally a fine-tune of BASE, as in
WiSE-FT (Wortsman et al., 2022), where interpolating a fine-tuned model back towards its
starting point keeps most of the fine-tune's gain on its own data while recovering the
starting point's behaviour elsewhere.

The output keeps TUNED's metadata (its training steps and config) and adds ``interpolated``:
the two ingredients' file names, sha256 and total steps, and ``A``. Nothing is unpickled.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from sonomorph.models.checkpoint import RESERVED_KEYS, load_model, save_model
from sonomorph.utils.hashing import sha256_file


def interpolate(base: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor],
                alpha: float) -> dict[str, torch.Tensor]:
    """``(1 - alpha) * base + alpha * tuned`` per floating-point tensor; others from tuned.
    The two state dicts come from the same model built with the same arguments."""
    return {k: torch.lerp(base[k].float(), t.float(), alpha).to(t.dtype)
            if t.is_floating_point() else t for k, t in tuned.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base", type=Path)
    ap.add_argument("tuned", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--alpha", type=float, required=True,
                    help="weight of TUNED, 0 (BASE) to 1 (TUNED)")
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    if not 0.0 <= args.alpha <= 1.0:
        ap.error("--alpha must be in [0, 1]")
    base, base_meta = load_model(args.base)
    tuned, tuned_meta = load_model(args.tuned)
    if base_meta["model"] != tuned_meta["model"] or base_meta["args"] != tuned_meta["args"]:
        print(f"error: {args.base} and {args.tuned} hold different models", file=sys.stderr)
        return 2
    tuned.load_state_dict(interpolate(base.state_dict(), tuned.state_dict(), args.alpha))
    keep = {k: v for k, v in tuned_meta.items() if k not in RESERVED_KEYS}
    keep["interpolated"] = {
        "alpha": args.alpha,
        "base": {"file": args.base.name, "sha256": sha256_file(args.base),
                 "total_steps": base_meta.get("total_steps", base_meta.get("step"))},
        "tuned": {"file": args.tuned.name, "sha256": sha256_file(args.tuned),
                  "total_steps": tuned_meta.get("total_steps", tuned_meta.get("step"))},
    }
    out = save_model(args.out, tuned, meta=keep, overwrite=args.overwrite)
    print(f"{out}: alpha {args.alpha}, sha256 {sha256_file(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

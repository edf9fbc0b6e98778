"""Soften or sharpen a U-Net separator's vocal mask by scaling its logits.

Usage: .venv/bin/python scripts/scale_mask_logits.py IN.safetensors OUT.safetensors --scale 0.6

The mask is ``sigmoid(head(features))``; multiplying the head convolution's weight and bias
by ``scale`` gives ``sigmoid(scale * logits)``: below 1 a softer mask, above 1 a sharper
one, with the same architecture and cost. This is a calibration on valid tracks, done after
training; the factor and the source file are recorded in the output's metadata
(``mask_logit_scale``, ``scaled_from``; an earlier factor in the input multiplies in).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from sonomorph.models.checkpoint import RESERVED_KEYS, load_model, save_model
from sonomorph.utils.hashing import sha256_file


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path, help="a unet_separator file")
    ap.add_argument("out", type=Path, help="the scaled copy (never the input)")
    ap.add_argument("--scale", type=float, required=True, help="factor on the mask logits (> 0)")
    args = ap.parse_args(argv)
    if not args.scale > 0:
        ap.error("--scale must be above 0")
    if args.out.resolve() == args.src.resolve():
        ap.error("the output must not be the input")
    model, meta = load_model(args.src, expect="unet_separator")
    with torch.no_grad():
        model.head.weight.mul_(args.scale)
        model.head.bias.mul_(args.scale)
    keep = {k: v for k, v in meta.items() if k not in RESERVED_KEYS}
    keep["mask_logit_scale"] = float(meta.get("mask_logit_scale", 1.0)) * args.scale
    keep["scaled_from"] = args.src.name
    out = save_model(args.out, model, meta=keep)
    print(f"{out}: mask logits x {keep['mask_logit_scale']:g}, sha256 {sha256_file(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

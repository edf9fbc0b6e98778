"""How much roughness the scream evaluation's word error rate tolerates.

``sonomorph eval scream`` measures the words kept with pocketsphinx (its English model ships
in the wheel) against the known sentences of the scream corpus's ``test-text/`` clips. Issue
15's target is a WER at most twice the input's. This benchmark asks what that allows: the
same clips, unchanged and with simple degradations that every scream has some of, scored by
the same recogniser and the same word error rate:

* white noise added at a signal-to-noise ratio of 30, 20 and 10 dB (the clip's mean power
  over the noise's);
* ``tanh`` saturation of the peak-normalised clip with a drive of 5 and 20, brought back to
  the clip's peak.

The noise is seeded, so a run is repeatable. Nothing here is trained; no model is scored.

Run::

    .venv/bin/python benchmarks/scream_wer_sensitivity.py --text corpora/screams/test-text \\
        --json benchmarks/results/scream-wer-sensitivity.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from collections.abc import Callable

import numpy as np

SR = 22050  # the rate eval scream loads clips at


def degradations(seed: int = 0) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Name -> function (mono float32 -> same length), the input first."""
    rng = np.random.default_rng(seed)

    def noise(snr_db: float) -> Callable[[np.ndarray], np.ndarray]:
        def add(x: np.ndarray) -> np.ndarray:
            n = rng.standard_normal(x.shape).astype(np.float32)
            scale = np.sqrt(np.mean(x ** 2) / max(float(np.mean(n ** 2)), 1e-20)
                            / 10 ** (snr_db / 10))
            return (x + scale * n).astype(np.float32)
        return add

    def drive(gain: float) -> Callable[[np.ndarray], np.ndarray]:
        def saturate(x: np.ndarray) -> np.ndarray:
            peak = float(np.max(np.abs(x))) or 1.0
            y = np.tanh(gain * x / peak)
            return (y / max(float(np.max(np.abs(y))), 1e-12) * peak).astype(np.float32)
        return saturate

    return {"input": lambda x: x, "white noise, 30 dB SNR": noise(30), "white noise, 20 dB SNR":
            noise(20), "white noise, 10 dB SNR": noise(10), "tanh drive 5": drive(5),
            "tanh drive 20": drive(20)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--text", default="corpora/screams/test-text",
                    help="clips with known text (<stem>.txt beside each)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the noise")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)

    from sonomorph.audio.io import load
    from sonomorph.models.recognizer import Recognizer, clip_text, text_clips, word_error_rate
    from sonomorph.utils.fs import atomic_write_text

    files = text_clips(args.text)
    if not files:
        print(f"error: {args.text} has no clip with a known text", file=sys.stderr)
        return 2
    recognise = Recognizer()
    clips = [(load(p, sr=SR, channels=1)[0][0], clip_text(p)) for p in files]
    rows = {}
    for name, fn in degradations(args.seed).items():
        wers = [word_error_rate(text, recognise(fn(x), SR)) for x, text in clips]
        rows[name] = {"wer": float(np.mean(wers))}
    base = rows["input"]["wer"]
    for row in rows.values():
        row["ratio_to_input"] = row["wer"] / base if base > 0 else float("nan")
    print("| clips | WER | x the input's |\n|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['wer']:.3f} | {row['ratio_to_input']:.2f} |")
    if args.json:
        result = {"benchmark": "scream-wer-sensitivity", "text": args.text, "clips": len(clips),
                  "seed": args.seed,
                  "recogniser": f"pocketsphinx {importlib.metadata.version('pocketsphinx')}",
                  "what": __doc__.split("\n\n")[1].replace("\n", " "), "rows": rows}
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n", overwrite=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Style-transfer benchmark: speed, memory and quality of the random-CNN transfer (and the
classifier transfer's speed when a genre model is available).

Inputs are read speech from the installed synthesisers (flite voices, festival kal/ked),
several sentences joined to the asked length, cached under the temp folder. Measures:

* speed: wall and CPU time of a whole transfer (load excluded; spectrogram, optimisation
  with its early stop, Griffin-Lim included) of 10 s of audio with 1 and 2 threads, for
  both methods, each in a fresh subprocess (:mod:`sonomorph.eval.bench`); the machine's
  load is recorded beside it;
* memory: peak resident memory of a 30-s transfer;
* quality, per content/style voice pair, with the default settings (recorded in the
  results): the relative style Gram distance at the start of the optimisation and at the
  end (the transfer's own network; and an independently seeded one with 16 bands that the
  optimisation never saw), the relative content distance of the result to the content
  input at the start of the optimisation (the initialisation: content + N(0, 0.1^2) in
  log1p units, the default ``init_noise``, not tuned here) and at the end, their ratio
  ``content_ratio`` (the issue's target: at most 2), the same ratio on the independent
  network, the content distance the *style input* has from the content (how far the other
  voice is: ``content_end`` as a fraction of it does not depend on the initial noise), and
  resemblyzer's cosine similarity of the style voice to the content input and to the output
  (an independent speaker encoder). The distances are on the optimised spectrogram
  (``style_drop``, ``content_ratio``) and again on the written audio, re-analysed
  (``audio_style_drop``, ``audio_content_ratio``: Griffin-Lim's phases and the output
  limiter included; same starts).

Run::

    .venv/bin/python benchmarks/style.py             # everything (about 10 minutes on 2 cores)
    .venv/bin/python benchmarks/style.py --quick     # one quality pair and the 10-s speed
    .venv/bin/python benchmarks/style.py --device cuda   # speed rows on the GPU (quality on the CPU)

Prints markdown tables and writes ``benchmarks/results/style.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sonomorph.eval.bench import add_device_option, markdown_table, parse_args, run_case  # noqa: E402

SR = 22050
THIS = str(Path(__file__).resolve())
CACHE = Path(tempfile.gettempdir()) / "sonomorph-bench" / "style"
RESULTS = ROOT / "benchmarks" / "results" / "style.json"
SENTENCES = (
    "Please call Stella and ask her to bring these things with her from the store.",
    "The rainbow is a division of white light into many beautiful colours.",
    "She sells sea shells by the sea shore, and the shells she sells are sea shells.",
    "When the sunlight strikes raindrops in the air, they act as a prism.",
    "Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack.",
)
# (content voice, style voice): engine:name keys of sonomorph.data.corpus.tts voices.
PAIRS = (("flite:kal16", "flite:slt"), ("flite:awb", "flite:rms"),
         ("festival:ked_diphone", "flite:slt"), ("flite:rms", "festival:kal_diphone"))


# ----------------------------------------------------------------------------- inputs


def speech(key: str, seconds: float) -> np.ndarray:
    """``seconds`` of ``key`` reading the sentences (cached as float WAV)."""
    import soundfile as sf

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{key.replace(':', '_')}_{seconds:g}.wav"
    if path.exists():
        return sf.read(path, dtype="float32")[0]
    from sonomorph.data.corpus.tts import installed_voices, synthesize

    voices = {v.key: v for group in installed_voices().values() for v in group}
    if key not in voices:
        raise SystemExit(f"voice {key} is not installed (scripts/install-system-deps.sh)")
    parts, total, i = [], 0, 0
    while total < seconds * SR:
        wav = synthesize(voices[key], SENTENCES[i % len(SENTENCES)], SR, pad=0.15)
        parts.append(wav)
        total += wav.shape[0]
        i += 1
    wav = np.concatenate(parts)[: int(seconds * SR)].astype(np.float32)
    tmp = path.with_suffix(".tmp.wav")
    sf.write(tmp, wav, SR, subtype="FLOAT")
    os.replace(tmp, path)
    return wav


# ----------------------------------------------------------------------------- cases


def random_case(seconds: float, device: str = "cpu", **options):
    """Bench factory: a whole random-CNN transfer of ``seconds`` of speech."""
    from sonomorph.pipelines.style import RandomStyleTransfer

    content, style = speech(PAIRS[0][0], seconds), speech(PAIRS[0][1], seconds)
    transfer = RandomStyleTransfer(device=device, **options)

    def work() -> None:
        result = transfer.transfer(content, SR, style, SR)
        work.steps = int(result.metrics["steps"])  # type: ignore[attr-defined]

    return work


def classifier_case(seconds: float, model: str = "default", device: str = "cpu", **options):
    """Bench factory: a whole classifier transfer of ``seconds`` of speech."""
    from sonomorph.pipelines.style import ClassifierStyleTransfer

    content, style = speech(PAIRS[0][0], seconds), speech(PAIRS[0][1], seconds)
    transfer = ClassifierStyleTransfer(model, device=device, **options)
    return lambda: transfer.transfer(content, SR, style, SR)


# ----------------------------------------------------------------------------- quality


def quality(pairs, seconds: float = 10.0) -> list[dict]:
    """Transfer each pair in this process and score it (see the module docstring)."""
    import torch
    from resemblyzer import VoiceEncoder, preprocess_wav

    from sonomorph.models.random_cnn import RandomCNN
    from sonomorph.pipelines.style import RandomStyleTransfer
    from sonomorph.train.losses import GramLoss

    torch.set_num_threads(1)  # as the style command (--threads 1)
    encoder = VoiceEncoder("cpu", verbose=False)
    from sonomorph.pipelines.style import _initial
    from sonomorph.train.losses import FeatureContentLoss

    content_loss = FeatureContentLoss()

    def embed(wav: np.ndarray, sr: int) -> np.ndarray:
        return encoder.embed_utterance(preprocess_wav(wav, source_sr=sr))

    rows = []
    for content_key, style_key in pairs:
        content, style = speech(content_key, seconds), speech(style_key, seconds)
        transfer = RandomStyleTransfer()
        t0 = time.perf_counter()
        result = transfer.transfer(content, SR, style, SR)
        wall = time.perf_counter() - t0
        m = result.metrics
        # An independently seeded network the optimisation never saw.
        other = RandomCNN(channels=8, kernel="3x1", seed=12345)
        gram = GramLoss(16)
        cs, ss, xs = (torch.from_numpy(a)[None] for a in (result.content, result.style,
                                                          result.result))
        x0 = _initial(cs, transfer.init, transfer.init_noise, transfer.seed).clamp_min(0.0)
        frames = min(cs.shape[-1], ss.shape[-1])
        with torch.no_grad():
            target = gram.gram(other(ss))[0]
            before = float(gram(other(x0), target))
            after = float(gram(other(xs), target))
            indep_c0 = float(content_loss(other(x0), other(cs)))
            indep_c1 = float(content_loss(other(xs), other(cs)))
            style_input = float(content_loss(transfer.net(ss[..., :frames]),
                                             transfer.net(cs[..., :frames])))
            heard = transfer.log_spectrogram(np.ascontiguousarray(result.audio[0]))
            own_target = transfer.gram_loss.gram(transfer.net(ss))[0]
            audio_style = float(transfer.gram_loss(transfer.net(heard), own_target))
            audio_content = float(content_loss(transfer.net(heard), transfer.net(cs)))
        e_c, e_s = embed(content, SR), embed(style, SR)
        e_o = embed(result.audio[0], result.sample_rate)
        rows.append({
            "content": content_key, "style": style_key, "seconds": seconds,
            "wall_s": wall, "steps": m["steps"],
            "style_start": m["style_start"], "style_end": m["style_end"],
            "style_drop": 1.0 - m["style_end"] / m["style_start"],
            "independent_style_drop": 1.0 - after / before,
            "audio_style_drop": 1.0 - audio_style / m["style_start"],
            "content_start": m["content_start"], "content_end": m["content_end"],
            "content_ratio": m["content_end"] / m["content_start"],
            "independent_content_ratio": indep_c1 / indep_c0,
            "audio_content_ratio": audio_content / m["content_start"],
            "content_style_input": style_input,
            "content_end_vs_style_input": m["content_end"] / style_input,
            "style_weight_end": m["style_weight_end"],
            "sim_style_content": float(e_s @ e_c), "sim_style_output": float(e_s @ e_o),
            "sim_content_output": float(e_c @ e_o),
        })
        print(json.dumps(rows[-1]), flush=True)
    return rows


def settings() -> dict:
    """The random transfer's default settings, as the quality rows used them."""
    from sonomorph.pipelines.style import RandomStyleTransfer

    t = RandomStyleTransfer()
    return {"n_fft": t.n_fft, "channels": t.net.channels, "kernel": "x".join(map(str, t.net.kernel)),
            "bands": t.gram_loss.bands, "content_weight": t.content_weight,
            "style_weight": t.style_weight, "style_drop": t.style_drop, "steps": t.steps,
            "optimizer": t.optimizer, "lr": t.lr, "init": t.init, "init_noise": t.init_noise}


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one pair, 10-s speed only")
    add_device_option(parser)
    args = parse_args(parser, argv)
    for a, b in PAIRS:  # synthesise the inputs once, before any timing
        for key in (a, b):
            for s in (10.0, 30.0):
                speech(key, s)
    out: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                 "device": args.device}
    speed_rows = []
    for threads in ((2,) if args.quick else (1, 2)):
        m = run_case(f"{THIS}:random_case", seconds=10.0, threads=threads, repeats=1,
                     warmup=0, name="random 10 s", device=args.device)
        speed_rows.append(m)
    if not args.quick:
        speed_rows.append(run_case(f"{THIS}:random_case", seconds=30.0, threads=2, repeats=1,
                                   warmup=0, name="random 30 s", device=args.device))
        from sonomorph import pretrained

        if "genre" in pretrained.available():
            from sonomorph.eval.records import weights_record
            from sonomorph.models import read_metadata

            genre = pretrained.path_for("genre")
            out["weights"] = {"genre (classifier transfer)": weights_record(
                genre, read_metadata(genre))}
            for threads in (1, 2):
                speed_rows.append(run_case(f"{THIS}:classifier_case", seconds=10.0,
                                           threads=threads, repeats=1, warmup=0,
                                           name="classifier 10 s", device=args.device))
    out["speed"] = [m.to_dict() for m in speed_rows]
    print(markdown_table(
        ["case", "threads", "wall s", "CPU s", "x real time", "peak MB", "load before/after",
         "error"],
        [[m.name, m.threads, m.median_s, (sorted(getattr(m, "cpu_times", []) or [None]))[0],
          m.x_realtime, m.peak_rss_mb,
          "/".join(f"{v:.1f}" for v in getattr(m, "load", None) or ()) or None,
          m.error] for m in speed_rows]))
    rows = quality(PAIRS[:1] if args.quick else PAIRS)
    out["quality_settings"] = settings()
    out["quality"] = rows
    print(markdown_table(
        ["content", "style", "style drop", "indep. drop", "audio drop", "content ratio",
         "indep. ratio", "audio ratio", "sim(style, input)", "sim(style, output)", "steps",
         "wall s"],
        [[r["content"], r["style"], r["style_drop"], r["independent_style_drop"],
          r["audio_style_drop"], r["content_ratio"], r["independent_content_ratio"],
          r["audio_content_ratio"], r["sim_style_content"], r["sim_style_output"], r["steps"],
          r["wall_s"]] for r in rows]))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=2) + "\n")
    os.replace(tmp, RESULTS)
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

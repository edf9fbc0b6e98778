"""``sonomorph scream``: turn voices into screams; ``train scream``, ``eval scream``, ``export scream``.

    sonomorph scream take1.wav takes/ -o screamed/ --strength 0.8
    sonomorph scream take1.wav --strength 1.5           # more scream than the model alone
    sonomorph scream --preset growl voice.flac          # DSP effect, no model: voice_growl.wav
    sonomorph scream --live --block 256                   # microphone -> speakers
    sonomorph train scream --voices corpora/screams/voices --screams corpora/screams/screams
    sonomorph train scream-judge --library corpora/sources --out runs/scream-judge
    sonomorph eval scream --corpus corpora/screams
    sonomorph eval scream --corpus corpora/screams --strength 0.5 --strength 1 --strength 1.5
    sonomorph export scream --onnx scream.onnx
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sonomorph.cli.common import (
    ONE_FILE,
    add_jobs_option,
    add_output_options,
    collect,
    device,
    model_row_name,
    out_dir,
    plan_outputs,
    positive_float,
    process_batch,
    write_json,
)
from sonomorph.errors import ConfigError
from sonomorph.utils.progress import console, progress_bar

MAX_STRENGTH = 2.0  # sonomorph.pipelines.scream.MAX_STRENGTH (tests check they agree)
STRENGTH_HELP = ("style strength, 0 to 2: 0 = the dry input, 1 = the model's output alone "
                 "(default), in between a blend of the two at equal loudness; above 1 the "
                 "model's change to the spectrum is exaggerated (2 = twice the change in dB). "
                 "Files only: --live plays the model alone")


def _strength(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= MAX_STRENGTH:  # (NaN fails too)
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_STRENGTH:g}: {text}")
    return value


def _block(text: str) -> int:
    from sonomorph.pipelines.streaming import MAX_BLOCK, MIN_BLOCK

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not MIN_BLOCK <= value <= MAX_BLOCK:
        raise argparse.ArgumentTypeError(f"must be between {MIN_BLOCK} and {MAX_BLOCK}: {text}")
    return value


def register(sub, groups) -> None:
    p = sub.add_parser(
        "scream", help="turn voices (sung, spoken, whispered) into screams, keeping the words",
        description="Turn voices into screams or growls while keeping the words. Input of any "
        "length, rate and channel count (downmixed to mono and resampled to 22.05 kHz for the "
        "model, with a note); overlapping chunks with crossfade and one loudness "
        "normalisation per file. Output: <track>_scream.<ext> (<track>_growl.<ext> with "
        "--preset growl), mono, at the input's rate.")
    p.add_argument("inputs", nargs="*", metavar="IN", help="audio files or folders")
    add_output_options(p, command="scream", stems=("scream", "growl with --preset growl"),
                       filename=ONE_FILE)
    p.add_argument("--model", metavar="M", default=None,
                   help="'default' (shipped), a .safetensors checkpoint or an exported .onnx")
    p.add_argument("--preset", choices=["growl"], default=None,
                   help="growl: the DSP growl effect instead of a model")
    p.add_argument("--strength", "--style-strength", dest="style_strength", type=_strength,
                   default=1.0, metavar="S", help=STRENGTH_HELP)
    p.add_argument("--live", action="store_true",
                   help="real time from the microphone to the speakers (sounddevice)")
    p.add_argument("--block", type=_block, default=256, metavar="N",
                   help="live block size in samples at 22.05 kHz, 256-2048 (default: 256)")
    p.add_argument("--duration", type=positive_float, default=None, metavar="S",
                   help="live: stop after S seconds (default: until Ctrl-C)")
    add_jobs_option(p)
    p.set_defaults(func=_run_scream)

    t = groups["train"].add_parser(
        "scream", help="train the voice-to-scream GAN on unpaired voices and screams",
        description="Train the voice-to-scream generator: random 1-s crops of silence-trimmed "
        "voices (generator input) and screams (discriminator's real data), hinge GAN + mel "
        "correlation loss (weight 150) + multi-resolution STFT loss toward the input (weight "
        "1), Adam lr 1e-4 betas 0.5/0.9, 4000 steps. TensorBoard logs and "
        "samples in OUT/logs; resumes from OUT. See sonomorph.train.recipes.scream for keys.")
    from sonomorph.train.config import add_config_arguments

    add_config_arguments(t)
    t.add_argument("--voices", metavar="DIR", help="folder of clean voices")
    t.add_argument("--screams", metavar="DIR", help="folder of screams")
    t.add_argument("--val-voices", metavar="DIR", help="held-out voices for validation")
    t.add_argument("--val-text", metavar="DIR", help="English clips with <stem>.txt beside "
                   "them (like a scream corpus's test-text): validation also logs the word "
                   "error rate of their outputs and of the clips themselves (val/wer, "
                   "val/wer_input; needs pocketsphinx)")
    t.add_argument("--content-loss", choices=["mel", "envelope"], default=None,
                   help="what ties the output to the input: mel (the log-mel correlation, "
                   "default) or envelope (of cepstrally smoothed log-mels: the words' spectral "
                   "envelope, leaving pitch, roughness and noise to the style)")
    t.add_argument("--judge", metavar="FILE", default=None,
                   help="a scream judge (train scream-judge): validation also logs its mean "
                   "P(scream) of the held-out voices' outputs (val/judge_p_scream)")
    t.add_argument("--init-from", metavar="PATH", default=None,
                   help="start the generator from the weights of a scream file ('default': "
                   "the shipped model; 'scream-real': the other shipped one) instead of random "
                   "ones, e.g. to fine-tune on your screams; its architecture wins over "
                   "generator.*. The file holds the generator only: the discriminator starts "
                   "from random weights")
    t.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default=None,
                   help="mixed precision: bf16 (CPU or CUDA) or fp16 (CUDA)")
    t.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for torch (default: torch's choice)")
    t.set_defaults(func=_run_train)

    e = groups["eval"].add_parser(
        "scream", help="judge screams with a classifier of real screams; words kept (WER, mel "
        "correlation); beside the input and the DSP growl",
        description="Style: P(scream) under the scream judge (a classifier trained on real "
        "screams against real speech of the real-audio library, `train scream-judge`; its "
        "accuracy and AUC on the held-out real voices and screams are reported) and the "
        "Fréchet distance to real held-out screams in the judge's embedding. Content: mel "
        "correlation with the input, and the pocketsphinx word error rate against the known "
        "text of English clips (<stem>.txt beside the audio; never a transcript of the input). "
        "Systems: the input itself, the growl preset, each model.")
    e.add_argument("--corpus", metavar="DIR", help="a scream corpus: its test-real/voices, "
                   "test-real/screams and test-text (each overridable below)")
    e.add_argument("--voices", metavar="DIR", help="held-out voices")
    e.add_argument("--screams", metavar="DIR", help="real held-out screams")
    e.add_argument("--text", metavar="DIR", help="English clips with <stem>.txt for the WER")
    e.add_argument("--judge", metavar="FILE", default=None,
                   help="scream judge (default: the shipped scream-judge)")
    e.add_argument("--model", metavar="M", action="append", default=None,
                   help="model to evaluate (default: shipped); repeat to compare several "
                   "(rows named after the files, with the folder when names clash)")
    e.add_argument("--strength", type=_strength, action="append", default=None, metavar="S",
                   help="score each model at style strength S (0 = the dry input, 1 = the model "
                   "alone, up to 2); repeat for a sweep, rows named '<model> @ strength S' "
                   "(default: each model once, at strength 1, named as usual)")
    e.add_argument("--limit", type=int, default=40, metavar="N", help="voices evaluated (default: 40)")
    e.add_argument("--no-wer", action="store_true", help="skip the word error rate (slow)")
    e.add_argument("--json", metavar="FILE", help="also write the results as JSON, with the "
                   "weights behind each model row and the judge (file, sha256, steps) and each "
                   "row's style strength")
    e.set_defaults(func=_run_eval)

    j = groups["train"].add_parser(
        "scream-judge", help="train the scream judge of `eval scream` on real screams and speech",
        description="Train the small scream-vs-speech classifier that `eval scream` judges "
        "with, on the real-audio library's screams/ and speech/ (train split; valid for "
        "validation), then judge it on the test-real split (characters, speakers and packages "
        "it never saw) and write OUT/results.json with those figures and the sha256 of "
        "OUT/last.safetensors. See sonomorph.train.recipes.scream_judge for keys.")
    add_config_arguments(j)
    j.add_argument("--library", metavar="DIR", help="real-audio library (default: corpora/sources)")
    j.add_argument("--init-from", metavar="PATH", default=None,
                   help="start from the weights of a scream-judge file ('default': the shipped "
                   "model) instead of random ones; its architecture wins over the size keys")
    j.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for torch (default: torch's choice)")
    j.set_defaults(func=_run_train_judge)

    x = groups["export"].add_parser(
        "scream", help="export the scream model (front end included) to ONNX",
        description="Export the whole waveform-to-waveform model, mel front end included, to "
        "ONNX: inputs audio (batch, 1, samples) at 22.05 kHz and gain (batch,) (<= 0: peak "
        "normalisation inside the model); output scream. Checked against torch (1e-3).")
    x.add_argument("--onnx", required=True, metavar="OUT", help="output .onnx file")
    x.add_argument("--model", metavar="M", default=None, help="model to export (default: shipped)")
    x.add_argument("-f", "--force", action="store_true", help="replace an existing file")
    x.set_defaults(func=_run_export)


# --------------------------------------------------------------------------- scream


def _run_scream(args) -> int:
    from sonomorph.pipelines.scream import Screamer

    if args.live:
        if args.inputs:
            raise ConfigError("--live takes no input files")
        if args.style_strength != 1.0:
            raise ConfigError("--strength applies to files; --live plays the model alone")
        return _run_live(args)
    if not args.inputs:
        raise ConfigError("give input files or folders (or --live)")
    out = out_dir(args)
    stem = args.preset or "scream"  # the DSP effect and the model never share a name
    plan = plan_outputs(collect(args.inputs, out), out, args.filename, (stem,), args.format)
    screamer = Screamer(args.model, preset=args.preset, style_strength=args.style_strength,
                        device=device(args))

    def work(src: Path, outputs: dict[str, Path], progress) -> None:
        screamer.check_input(src)  # errors come before any progress bar
        screamer.progress = progress  # a bar for a single input only (None in a batch)
        report = screamer.process_file(src, outputs[stem], format=args.format,
                                       bit_depth=args.bit_depth, overwrite=args.force)
        if not args.quiet:
            for note in report.notes:
                console.print(f"note: {src.name}: {note}", highlight=False)

    return process_batch(args, plan, work, description="scream")


def _run_live(args) -> int:
    from sonomorph.pipelines.scream import load_backend
    from sonomorph.pipelines.streaming import StreamingEngine, audio_devices, run_live

    if args.preset:
        raise ConfigError("--live needs a model (the growl preset is offline only)")
    audio_devices()  # a missing device is reported before anything else
    backend = load_backend(args.model, device="cpu")  # live blocks are too small for a GPU
    engine = StreamingEngine(backend, args.block, fixed_blocks=True)
    if not args.quiet:
        console.print(f"live: {backend.name}, block {engine.block_size} samples, algorithmic "
                      f"latency {engine.latency_ms:.1f} ms (look-ahead {engine.delay} + block); "
                      "Ctrl-C stops")
    run_live(engine, duration=args.duration,
             on_status=None if args.quiet else (lambda s: console.print(f"audio: {s}")))
    return 0


# --------------------------------------------------------------------------- train


def _run_train(args) -> int:
    import torch

    from sonomorph.train import Trainer
    from sonomorph.train.config import config_from_args
    from sonomorph.train.recipes.scream import ScreamConfig, ScreamTask

    for name, key in (("voices", "voices"), ("screams", "screams"), ("val_voices", "val_voices"),
                      ("val_text", "val_text"), ("content_loss", "content_loss"),
                      ("judge", "judge")):
        value = getattr(args, name, None)
        if value:
            args.overrides = [*args.overrides, f"{key}={json.dumps(str(value))}"]
    if args.precision:
        args.overrides = [*args.overrides, f'precision="{args.precision}"']
    if args.threads:
        torch.set_num_threads(max(1, args.threads))
    cfg = config_from_args(ScreamConfig, args)
    result = Trainer(ScreamTask(cfg), cfg, quiet=args.quiet).fit()
    if not args.quiet:
        console.print(f"trained {result.step} steps: {result.last}"
                      + (f" (validation {result.metrics})" if result.metrics else ""))
    return 0


def _run_train_judge(args) -> int:
    import torch

    from sonomorph.data.corpus.common import sha256_file
    from sonomorph.eval.scream import judge_report
    from sonomorph.models.checkpoint import load_model
    from sonomorph.train import Trainer
    from sonomorph.train.config import config_from_args
    from sonomorph.train.recipes.scream_judge import ScreamJudgeConfig, ScreamJudgeTask, load_clips
    from sonomorph.utils.fs import atomic_write_text

    if args.library:
        args.overrides = [*args.overrides, f"library={json.dumps(str(args.library))}"]
    if args.threads:
        torch.set_num_threads(max(1, args.threads))
    cfg = config_from_args(ScreamJudgeConfig, args)
    result = Trainer(ScreamJudgeTask(cfg), cfg, quiet=args.quiet).fit()
    judge, meta = load_model(result.last, expect="scream-judge")
    held = load_clips(cfg.library, "test-real", max_seconds=cfg.max_seconds,
                      speech_per_speaker=cfg.speech_clips_per_speaker, seed=cfg.seed)
    report = judge_report(judge, [c["audio"] for c in held if c["label"] == 1],
                          [c["audio"] for c in held if c["label"] == 0])
    groups = {k: sorted({c["group"].split("/", 1)[1] for c in held if c["group"].startswith(k)})
              for k in ("screams/", "speech/")}
    results = {"weights": str(result.last), "sha256": sha256_file(result.last),
               "steps": result.step, "total_steps": meta.get("total_steps", result.step),
               "library": str(cfg.library), "validation": result.metrics,
               "test_real": {**report, "characters": groups["screams/"],
                             "speakers": groups["speech/"],
                             "scream_packages": sorted({c["package"] for c in held if c["label"] == 1})}}
    path = Path(cfg.out_dir) / "results.json"
    atomic_write_text(path, json.dumps(results, indent=2, default=float) + "\n", overwrite=True)
    if not args.quiet:
        console.print(f"trained {result.step} steps: {result.last}; held-out (test-real) "
                      f"accuracy {report['accuracy']:.3f}, AUC {report['auc']:.3f} on "
                      f"{report['n_screams']} screams and {report['n_voices']} speech clips "
                      f"({path})", highlight=False)
    return 0


# --------------------------------------------------------------------------- eval


def _run_eval(args) -> int:
    from sonomorph.eval.records import weights_record
    from sonomorph.eval.scream import at_strengths, evaluate_scream, load_judge
    from sonomorph.pipelines.scream import Screamer

    specs = args.model or [None]
    growl = Screamer(preset="growl")
    systems = {"input": lambda x: x, "growl": lambda x: growl.mix(growl.wet(x), x)}
    strengths = {"growl": growl.style_strength}  # each pipeline row's style strength
    weights = {}  # each model row's file, sha256 and steps (and the judge's)
    names = set(systems)  # the models' names before any " @ strength S"
    for spec in specs:
        screamer = Screamer(spec, device=device(args))
        name, record = model_row_name(spec, len(specs), names), _weights(spec, "scream")
        names.add(name)
        for row, screamer_at in at_strengths(name, screamer, args.strength).items():
            systems[row] = lambda x, s=screamer_at: s.mix(s.wet(x), x)
            strengths[row], weights[row] = screamer_at.style_strength, record
    if args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    corpus = Path(args.corpus) if args.corpus else None
    voices = args.voices or (corpus and corpus / "test-real" / "voices")
    screams = args.screams or (corpus and corpus / "test-real" / "screams")
    text = args.text or (corpus and (corpus / "test-text").is_dir() and corpus / "test-text") or None
    if not voices or not screams:
        raise ConfigError("give --corpus DIR, or --voices DIR and --screams DIR")
    judge, judge_meta, judge_path = load_judge(args.judge)
    weights["judge"] = weights_record(judge_path, judge_meta)
    with progress_bar("eval scream", None, quiet=args.quiet) as update:
        report = evaluate_scream(voices, screams, systems=systems, judge=judge, text=text,
                                 limit=args.limit, wer=not args.no_wer, progress=update)
    report.strengths = strengths
    print(report.markdown())
    jr = report.judge
    print(f"judge on the held-out real audio: accuracy {jr['accuracy']:.3f}, AUC {jr['auc']:.3f} "
          f"({jr['n_screams']} screams, {jr['n_voices']} voices); {report.n_eval_voices} voices "
          f"evaluated, WER on {report.n_text_clips} clips of known text")
    for note in report.notes:
        console.print(f"note: {note}")
    if args.json:
        write_json(args.json, {**report.to_dict(), "weights": weights})
    return 0


def _weights(spec, kind: str) -> dict:
    """``weights_record`` of the model a user named (an ONNX file: its name and sha256)."""
    from sonomorph.eval.records import weights_record
    from sonomorph.models.checkpoint import read_metadata, resolve_model

    if spec is not None and Path(spec).suffix.lower() == ".onnx":
        return weights_record(spec)
    path = resolve_model(spec, kind)
    return weights_record(path, read_metadata(path))


# --------------------------------------------------------------------------- export


def _run_export(args) -> int:
    from sonomorph.pipelines.scream import export_scream_onnx

    path, diff = export_scream_onnx(args.onnx, args.model, overwrite=args.force)
    if not args.quiet:
        console.print(f"wrote {path} (onnxruntime vs torch: max difference {diff:.1e})")
    return 0

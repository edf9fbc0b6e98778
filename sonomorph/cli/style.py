"""``sonomorph style CONTENT STYLE -o DIR``: give a clip the texture of another.

The work is done by :mod:`sonomorph.pipelines.style`; this module only parses arguments.
"""

from __future__ import annotations

import argparse

from sonomorph.cli.common import (
    ONE_FILE,
    Item,
    add_output_options,
    closed_unit_float,
    device,
    lazy_progress,
    non_negative_int,
    out_dir,
    plan_outputs,
    positive_float,
    positive_int,
    print_summary,
    run_batch,
)
from sonomorph.utils.progress import console

STEM, PLOT = "styled", "spectrograms"


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number, 0 or more: {text}")
    return value



def _fraction(text: str) -> float:
    value = _non_negative_float(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction below 1: {text}")
    return value


def _layers(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give layer names separated by commas, e.g. conv1,conv2")
    return names


def register(sub, groups) -> None:
    KERNELS = ("3x1", "3x3")  # sonomorph.models.random_cnn.KERNELS, without importing torch here

    p = sub.add_parser(
        "style",
        help="style transfer: give CONTENT the texture of STYLE (voice or music)",
        description="Optimise the spectrogram of CONTENT so that the time-Gram statistics of "
        "a network's features match those of STYLE while the features themselves stay close "
        "to CONTENT's, then turn it into sound with Griffin-Lim. --method random uses a "
        "frozen, seeded random CNN over a log spectrogram (no data needed; good for voices); "
        "--method classifier uses the layers of a genre classifier over its mel features "
        "(ambience to music); --method speaker moves the content's median pitch onto the "
        "style speaker's, then matches Gram statistics and the embedding of our own speaker "
        "encoder to make a voice sound like another speaker (train the encoder with `sonomorph "
        "train speaker-encoder` and give its file with --model; the shipped one otherwise); "
        "--method knn optimises nothing and needs no model: after the same pitch matching it "
        "replaces each content frame by the mean spectrum of its k phonetically nearest "
        "style frames (MFCC match), or with --excitation content gives it only their "
        "spectral envelope (frame matching after kNN-VC, Baas et al. 2023). Inputs of any "
        "format, rate and channel "
        "count; the output, "
        "<track>_styled.<ext> ({track}: CONTENT's name), is mono at CONTENT's sample rate.",
    )
    p.add_argument("content", metavar="CONTENT", help="the clip whose content is kept")
    p.add_argument("style", metavar="STYLE", help="the clip whose texture is taken")
    add_output_options(p, command="style", stems=(STEM, f"{PLOT} with --plot"),
                       filename=ONE_FILE)
    p.add_argument("--method", choices=("random", "classifier", "speaker", "knn"),
                   default="random",
                   help="feature network, or knn: frame matching, no optimisation (default: "
                   "random)")
    p.add_argument("--steps", type=positive_int, default=None, metavar="N",
                   help="most optimisation steps (default: 150 random, 100 classifier and "
                   "speaker)")
    p.add_argument("--style-drop", type=_fraction, default=0.93, metavar="F",
                   help="stop once the style distance has fallen by this fraction of its "
                   "start; a plateau before that (less than 1%% better in 10 steps) doubles "
                   "the style weight, at most 6 times. 0: no goal, a plateau ends the run "
                   "(default: 0.93)")
    p.add_argument("--content-weight", type=_non_negative_float, default=None, metavar="W",
                   help="weight of the content term (default: 3 random, 1 classifier and "
                   "speaker)")
    p.add_argument("--style-weight", type=_non_negative_float, default=3.0, metavar="W",
                   help="weight of the style term at the start; both terms are relative "
                   "distances, so larger means more style (default: 3)")
    p.add_argument("--lr", type=positive_float, default=None, metavar="LR",
                   help="step size of the optimiser (default: Adam 0.02 random and "
                   "speaker, 0.05 classifier; L-BFGS 0.1)")
    p.add_argument("--optimizer", choices=("adam", "lbfgs"), default="adam",
                   help="optimiser; the spectrogram stays non-negative and bounded either "
                   "way (Adam: projected after every step; L-BFGS: optimises its square "
                   "root) (default: adam)")
    p.add_argument("--init", choices=("content", "noise"), default="content",
                   help="start from the content plus a little noise, or from noise "
                   "(default: content)")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="seed of the random filters, the initial noise and Griffin-Lim "
                   "(default: 0)")
    g = p.add_argument_group("random method")
    g.add_argument("--kernel", choices=KERNELS, default="3x1",
                   help="random filter size, frequency x time (default: 3x1)")
    g.add_argument("--channels", type=positive_int, default=None, metavar="C",
                   help="random filters (default: 8)")
    g.add_argument("--bands", type=positive_int, default=None, metavar="B",
                   help="frequency bands with a Gram of their own; more keep more of where "
                   "a voice's energy lies, at a higher cost to the content (default: 16 "
                   "random, 1 classifier and speaker)")
    g.add_argument("--n-fft", type=positive_int, default=512, metavar="N",
                   help="STFT size (default: 512)")
    c = p.add_argument_group("classifier and speaker methods")
    c.add_argument("--model", metavar="PATH", default="default",
                   help="genre classifier .safetensors, or with --method speaker our speaker "
                   "encoder .safetensors from `sonomorph train speaker-encoder` (default: the "
                   "shipped model; no speaker encoder ships yet)")
    c.add_argument("--content-layers", type=_layers, default=None, metavar="L1,L2",
                   help="content layers (default: the model's fifth layer: block4 of the "
                   "temporal CNN, conv5 of the original CNN; tdnn1 of the speaker encoder)")
    c.add_argument("--style-layers", type=_layers, default=None, metavar="L1,L2",
                   help="style layers (default: the first four: proj,block1,block2,block3 "
                   "or conv1,conv2,conv3,conv4; tdnn2,tdnn3,tdnn4 of the speaker encoder, "
                   "whose embedding is matched too)")
    v = p.add_argument_group("speaker and knn methods")
    v.add_argument("--no-pitch-match", action="store_true",
                   help="keep the content's pitch (default: move its median f0 onto the "
                   "style speaker's, at most 12 semitones)")
    v.add_argument("--embedding-weight", type=_non_negative_float, default=None, metavar="W",
                   help="weight of the speaker-embedding cosine distance inside the style "
                   "term; speaker method only (default: 1)")
    n = p.add_argument_group("knn method")
    n.add_argument("--k", type=positive_int, default=None, metavar="K",
                   help="style frames averaged for each content frame (default: 4)")
    n.add_argument("--strength", type=closed_unit_float, default=None, metavar="F",
                   help="how much of each frame (or, with --excitation content, of its "
                   "envelope) comes from the matched style frames, 0 to 1; 0 keeps the "
                   "content's (default: 1)")
    n.add_argument("--lifter", type=positive_int, default=None, metavar="N",
                   help="cepstral coefficients in the envelope (--excitation content), at "
                   "most 512; more keeps finer spectral detail of the style (default: 30)")
    n.add_argument("--excitation", choices=("content", "style"), default=None,
                   help="whose fine structure (harmonics, voicing) the output keeps: style "
                   "takes whole style frames, as kNN-VC does; content takes only the style's "
                   "envelope (default: style)")
    p.add_argument("--plot", action="store_true",
                   help="also write the content, style and result spectrograms side by side "
                   "(<track>_spectrograms.png)")
    p.add_argument("--threads", type=positive_int, default=1, metavar="N",
                   help="CPU threads; the transfer's tensors are small and memory-bound, so "
                   "one thread is fastest on a busy machine (measured by benchmarks/style.py "
                   "at load 5.5 to 7 on 2 cores: 10 s of audio in 9.9 s with 1 thread, 40 s "
                   "with 2; classifier 7.7 s and 61 s); try 2 on an idle machine (default: 1)")
    p.set_defaults(func=run)

    if "eval" in groups:
        e = groups["eval"].add_parser(
            "style", help="does style transfer move the voice? real voice pairs, judged by "
            "resemblyzer",
            description="Draw N (content, style) pairs of different real speakers from a split "
            "of a `corpus speech` folder (test-real: speakers never seen in training; seeded), "
            "transfer each pair's content clip (its speaker's first clips joined to about "
            "--seconds) onto the style speaker's voice with each --method, and judge the "
            "outputs with resemblyzer's speaker encoder, which no method optimises against. "
            "Prints, per method and for the unchanged input: the share of pairs whose output "
            "is closer (cosine) to the style speaker than to the content speaker, each "
            "speaker's reference being the mean embedding of its other clips (never those "
            "transferred); the mean cosines; the seconds (CPU and wall clock) per 10 s of "
            "audio on one thread; and pocketsphinx's word error rate against the known text "
            "on English pairs (real English speakers with texts when the split has them, else "
            "the corpus's synthetic English voices, and the output says which). Targets: "
            "closer in at least 80% of pairs, WER at most 1.5x the input's, 10 s in at most "
            "30 s.")
        e.add_argument("--data", required=True, metavar="DIR",
                       help="speech corpus folder (`sonomorph corpus speech`; VCTK layout with "
                       "splits/NAME.txt)")
        e.add_argument("--split", default="test-real", metavar="NAME",
                       help="split whose speakers are paired (default: test-real)")
        e.add_argument("--method", dest="methods", action="append",
                       choices=("random", "classifier", "speaker", "knn"), default=None,
                       help="a method to run; repeat for several (default: random and speaker)")
        e.add_argument("--pairs", type=positive_int, default=12, metavar="N",
                       help="content/style pairs (default: 12)")
        e.add_argument("--seed", type=int, default=0, metavar="N",
                       help="seed of the pair draw (default: 0)")
        e.add_argument("--seconds", type=positive_float, default=5.0, metavar="S",
                       help="length of each transfer clip (default: 5)")
        e.add_argument("--style-seconds", type=positive_float, default=None, metavar="S",
                       help="how much of the style speaker each method is given: its clips "
                       "joined up to S seconds, never those of its judging reference "
                       "(default: its transfer clip, about --seconds)")
        e.add_argument("--wer-pairs", type=non_negative_int, default=6, metavar="N",
                       help="English pairs with known text for the word error rate; 0: none "
                       "(default: 6)")
        e.add_argument("--model", metavar="PATH", default=None,
                       help="our speaker encoder for --method speaker (default: the shipped "
                       "one)")
        e.add_argument("--threads", type=positive_int, default=1, metavar="N",
                       help="CPU threads (default: 1, as the speed target is stated)")
        e.add_argument("--json", metavar="PATH", help="also write the results as JSON")
        e.set_defaults(func=run_eval)


def run_eval(args) -> int:
    import torch

    from sonomorph.cli.common import write_json
    from sonomorph.eval.style import evaluate_style, format_style
    from sonomorph.utils.progress import progress_bar

    torch.set_num_threads(args.threads)
    methods = tuple(dict.fromkeys(args.methods or ("random", "speaker")))
    options = {"speaker": {"model": args.model}} if args.model else {}
    if args.model and "speaker" not in methods:
        from sonomorph.errors import ConfigError

        raise ConfigError("--model is our speaker encoder: it goes with --method speaker")
    with progress_bar("style pairs", None, quiet=args.quiet) as update:
        r = evaluate_style(args.data, methods=methods, split=args.split, pairs=args.pairs,
                           seed=args.seed, seconds=args.seconds,
                           style_seconds=args.style_seconds, wer_pairs=args.wer_pairs,
                           options=options, device=device(args), progress=update)
    from sonomorph.utils.fs import portable_path

    r = {"data": portable_path(args.data), "threads": args.threads, **r}
    print(format_style(r))
    if args.json:
        write_json(args.json, r)
        print(f"results: {args.json}")
    return 0


def options_from_args(args) -> dict:
    """Pipeline keyword arguments from the parsed command line."""
    from sonomorph.errors import ConfigError

    knn = {"k": args.k, "strength": args.strength, "lifter": args.lifter,
           "excitation": args.excitation}
    if args.method == "knn":
        tuning = {"--steps": args.steps, "--content-weight": args.content_weight,
                  "--lr": args.lr, "--channels": args.channels, "--bands": args.bands,
                  "--content-layers": args.content_layers, "--style-layers": args.style_layers,
                  "--embedding-weight": args.embedding_weight}
        given = [name for name, value in tuning.items() if value is not None]
        if given:
            verb = "tunes" if len(given) == 1 else "tune"
            raise ConfigError(f"{', '.join(given)} {verb} the optimising methods; --method knn "
                              "optimises nothing (its options: --k, --strength, --lifter, "
                              "--excitation, --no-pitch-match)")
        return {"device": device(args), "pitch_match": not args.no_pitch_match,
                **{k: v for k, v in knn.items() if v is not None}}
    if any(v is not None for v in knn.values()):
        raise ConfigError("--k, --strength, --lifter and --excitation go with --method knn")
    opts: dict = {"style_weight": args.style_weight, "optimizer": args.optimizer,
                  "init": args.init, "seed": args.seed, "device": device(args),
                  "style_drop": args.style_drop or None}
    if args.content_weight is not None:
        opts["content_weight"] = args.content_weight
    if args.steps is not None:
        opts["steps"] = args.steps
    if args.lr is not None:
        opts["lr"] = args.lr
    if args.method != "speaker" and (args.no_pitch_match or args.embedding_weight is not None):
        raise ConfigError("--no-pitch-match goes with --method speaker or knn, "
                          "--embedding-weight with --method speaker")
    if args.method == "random":
        opts.update(kernel=args.kernel, n_fft=args.n_fft)
        if args.channels is not None:
            opts["channels"] = args.channels
        if args.bands is not None:
            opts["bands"] = args.bands
    else:
        opts.update(model=args.model, content_layers=args.content_layers,
                    style_layers=args.style_layers)
        if args.bands is not None:
            opts["bands"] = args.bands
        if args.method == "speaker":
            opts["pitch_match"] = not args.no_pitch_match
            if args.embedding_weight is not None:
                opts["embedding_weight"] = args.embedding_weight
    return opts


def _moved(m: dict, args) -> str:
    """What the pitch matching did, in words."""
    return (f"median f0 {m['f0_content']:.0f} Hz -> {m['f0_style']:.0f} Hz, shifted "
            f"{m['pitch_shift']:+.1f} semitones" if m["pitch_shift"] else
            "pitch kept" if args.no_pitch_match else "pitch kept (no voiced frames "
            "to match, or the same median f0)")


def run(args) -> int:
    from pathlib import Path

    import torch

    from sonomorph.pipelines.style import stylise_file

    torch.set_num_threads(args.threads)
    out = out_dir(args)
    content = Path(args.content)
    stems = (STEM, PLOT) if args.plot else (STEM,)
    plan = plan_outputs([Item(content)], out, args.filename, stems,
                        {STEM: args.format, PLOT: "png"})[content]
    metrics: dict = {}

    def one(src) -> list:
        # The optimisation works on the whole clip at every step: the bar counts steps.
        with lazy_progress(f"style transfer ({args.method})", quiet=args.quiet,
                           unit="steps") as update:
            result = stylise_file(src, args.style, plan[STEM], method=args.method,
                                  plot=plan.get(PLOT), overwrite=args.force, progress=update,
                                  bit_depth=args.bit_depth, **options_from_args(args))
        metrics.update(result.metrics)
        return list(plan.values())

    report = run_batch([content], one, description="style transfer", quiet=args.quiet)
    if not args.quiet and args.method == "knn":
        m = metrics
        console.print(
            f"{int(m['frames_matched'])} of {int(m['frames'])} content frames took the mean "
            f"{'envelope' if args.excitation == 'content' else 'spectrum'} of their "
            f"{int(m['k'])} nearest of {int(m['style_frames'])} style "
            f"frames (mean change {m['envelope_change_db']:.1f} dB); {_moved(m, args)}; "
            f"{m['seconds']:.1f} s", highlight=False)
    elif not args.quiet:
        m = metrics
        drop = 1.0 - m["style_end"] / m["style_start"] if m["style_start"] > 0 else 0.0
        console.print(
            f"style distance -{drop:.0%} ({m['style_start']:.3g} -> {m['style_end']:.3g}), "
            f"content distance {m['content_start']:.3g} -> {m['content_end']:.3g}, "
            f"{int(m['steps'])} steps in {m['seconds']:.1f} s", highlight=False)
        if args.method == "speaker":
            console.print(f"{_moved(m, args)}; speaker-embedding distance "
                          f"{m['embedding_start']:.3g} -> {m['embedding_end']:.3g} (our "
                          "encoder, the one optimised against)",
                          highlight=False)
    print_summary(report, quiet=args.quiet)
    return 0

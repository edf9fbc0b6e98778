"""Pictures, metrics and pages for the demo and the web UI: spectrogram PNGs, the metrics
shown beside results, and the HTML report.

:func:`spectrogram_png` draws the mel spectrograms of a few audio files stacked on one time
axis (input above, results below), so a change is seen at a glance; the web UI shows it
under each tab and the demo puts one per capability in its report. :func:`write_report`
writes ``index.html``: one section per capability with audio players, the spectrogram
image, the metrics and the notes, every link relative so the folder can be moved or
zipped. Nothing here runs a model; matplotlib is imported only when a picture is drawn.
"""

from __future__ import annotations

import datetime
import html
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sonomorph.utils.fs import atomic_path, atomic_write_text

__all__ = ["Outcome", "Section", "spectrogram_png", "mel_db", "write_report", "render_html",
           "separation_metrics", "content_kept", "accompaniment_scores"]

MAX_FRAMES = 1000  # columns per panel (about the picture's width): the hop grows for long files
TOP_DB = 80.0  # dynamic range shown below each panel's loudest bin


@dataclass
class Outcome:
    """What one capability produced: audio files and pictures (label, path), metrics as
    (name, formatted value) pairs, a short plain-text result (a genre, a speaker) and
    notes (what was changed or skipped, and why); class ``probabilities`` where the
    capability gives some (genre)."""

    audio: list[tuple[str, Path]] = field(default_factory=list)
    images: list[tuple[str, Path]] = field(default_factory=list)
    metrics: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    notes: list[str] = field(default_factory=list)
    probabilities: dict[str, float] = field(default_factory=dict)


@dataclass
class Section:
    """One capability in the report: its outcome, or why it was skipped or failed."""

    key: str
    title: str
    blurb: str
    status: str  # "ok", "skipped" or "failed"
    inputs: list[tuple[str, Path]] = field(default_factory=list)
    outcome: Outcome | None = None
    reason: str = ""
    seconds: float = 0.0


# ----------------------------------------------------------------------------- spectrograms


def mel_db(wav: np.ndarray, sr: int, *, n_mels: int = 128,
           max_frames: int = MAX_FRAMES) -> tuple[np.ndarray, float]:
    """Mel power spectrogram in dB (n_mels, frames) of mono ``wav`` (samples,), and the
    seconds per frame. The FFT size follows the rate (2048 at 44.1 kHz); the hop grows
    for long signals so at most ``max_frames`` frames are computed."""
    import torch

    from sonomorph.audio.spectral import MelSpectrogram

    n_fft = int(2 ** round(np.log2(max(256.0, 2048.0 * sr / 44100.0))))
    hop = max(n_fft // 4, int(np.ceil(wav.shape[-1] / max_frames)))
    x = np.asarray(wav, dtype=np.float32)
    if x.shape[-1] < n_fft:
        x = np.pad(x, (0, n_fft - x.shape[-1]))
    mel = MelSpectrogram(sample_rate=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels,
                         power=2.0, log=True, log_floor=1e-10, log_base="db")
    with torch.no_grad():
        db = mel(torch.from_numpy(x)).numpy()
    return db, hop / float(sr)


def spectrogram_png(rows: Sequence[tuple[str, str | os.PathLike]], png: str | os.PathLike, *,
                    overwrite: bool = False, max_seconds: float | None = 600.0) -> Path:
    """Draw the mel spectrograms of the audio files ``rows`` ((label, path), top to bottom)
    on one time axis into ``png`` (written atomically). Each file is mixed to mono; only
    its first ``max_seconds`` are drawn. Returns the PNG's path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sonomorph.audio import io as audio_io

    panels = []
    for label, path in rows:
        wav, sr = audio_io.load(path, channels=1, duration=max_seconds)
        db, step = mel_db(wav[0], sr)
        panels.append((label, db, step, sr))
    if not panels:
        raise ValueError("nothing to draw")
    longest = max(db.shape[1] * step for _, db, step, _ in panels)
    fig, axes = plt.subplots(len(panels), 1, figsize=(9.0, 1.9 * len(panels) + 0.4),
                             squeeze=False, constrained_layout=True)
    for ax, (label, db, step, sr) in zip(axes[:, 0], panels):
        top = float(db.max())
        ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=top - TOP_DB, vmax=top,
                  extent=(0.0, db.shape[1] * step, 0.0, db.shape[0]), interpolation="nearest")
        ax.set_xlim(0.0, longest)
        ax.set_title(f"{label}  ({sr} Hz)", fontsize=9, loc="left")
        ax.set_ylabel("mel band", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1, 0].set_xlabel("seconds", fontsize=8)
    with atomic_path(png, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return Path(png)


# ----------------------------------------------------------------------------- metrics


def _mono(path: Path, sr: int | None = None):
    from sonomorph.audio.io import load

    return load(path, sr=sr, channels=1)


def separation_metrics(song: Path, reference_vocals: Path, vocals: Path, karaoke: Path
                        ) -> list[tuple[str, str]]:
    """SI-SDR of the two stems against the reference vocals and accompaniment (song minus
    reference vocals), beside the unprocessed song as the baseline estimate of each; all
    mixed to mono at the reference's sample rate."""
    from sonomorph.eval.metrics import si_sdr

    ref_v, sr = _mono(reference_vocals)  # compared at the reference's rate
    est_v, _ = _mono(vocals, sr)
    est_k, _ = _mono(karaoke, sr)
    mix, _ = _mono(song, sr)
    n = min(est_v.shape[1], est_k.shape[1], ref_v.shape[1], mix.shape[1])
    ref_v, mix = ref_v[:, :n], mix[:, :n]
    ref_k = mix - ref_v
    rows = []
    for what, ref, est in (("vocals", ref_v, est_v), ("accompaniment", ref_k, est_k)):
        rows.append((f"{what} SI-SDR (dB)", f"{si_sdr(ref, est[:, :n]):.2f}"))
        rows.append((f"{what} SI-SDR of the unprocessed song (dB, baseline)",
                     f"{si_sdr(ref, mix):.2f}"))
    return rows


def content_kept(voice: Path, outputs: list[tuple[str, Path]]) -> list[tuple[str, str]]:
    """Mel correlation of each output with the input voice (the scream evaluation's content
    measure: 1 = the same spectral envelope over time), where that module is present."""
    try:
        from sonomorph.eval.scream import SR, mel_correlation
    except ImportError:
        return []
    dry, _ = _mono(voice, SR)
    rows = []
    for label, path in outputs:
        wet, _ = _mono(path, SR)
        rows.append((f"mel correlation with the input: {label}", f"{mel_correlation(dry[0], wet[0]):.3f}"))
    return rows


def accompaniment_scores(vocals: Path, song: Path, generated: Path) -> list[tuple[str, str]]:
    """The accompaniment evaluation's metrics against the true accompaniment (song minus
    vocals), for the generated one and, as a baseline, for the voice itself."""
    try:
        from sonomorph.eval.accompany import EVAL_RATE, score
    except ImportError:
        return []
    voice, _ = _mono(vocals, EVAL_RATE)
    mix, _ = _mono(song, EVAL_RATE)
    gen, _ = _mono(generated, EVAL_RATE)
    n = min(voice.shape[1], mix.shape[1], gen.shape[1])
    truth = mix[0, :n] - voice[0, :n]
    rows = []
    for label, est in (("generated", gen[0, :n]), ("the voice itself (baseline)", voice[0, :n])):
        m = score(est, truth, EVAL_RATE)
        rows.append((f"{label}: chroma similarity / onset F1 / log-spectral distance",
                     f"{m['chroma']:.3f} / {m['onset_f1']:.3f} / {m['lsd']:.2f} dB"))
    return rows


# ----------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:62rem;padding:0 1rem;color:#1d1d1f;background:#fafafa}
h1{margin-bottom:.2rem} .sub{color:#666;margin-top:0}
section{background:#fff;border:1px solid #ddd;border-radius:8px;padding:1rem 1.4rem;margin:1.2rem 0}
.status{font-size:.8rem;padding:.1rem .5rem;border-radius:4px;margin-left:.6rem;vertical-align:middle}
.ok{background:#e3f5e1;color:#1e6b1a} .skipped{background:#fff4d6;color:#7a5a00}
.failed{background:#fde2e1;color:#9b1c1c}
.players{display:grid;grid-template-columns:repeat(auto-fill,minmax(17rem,1fr));gap:.6rem}
.player{font-size:.85rem} audio{width:100%} img{max-width:100%;border:1px solid #eee}
table{border-collapse:collapse;margin:.5rem 0} td,th{border:1px solid #ddd;padding:.25rem .6rem;
font-size:.85rem;text-align:left} .note{color:#555;font-size:.85rem} pre{background:#f3f3f3;
padding:.5rem;border-radius:4px;white-space:pre-wrap}
nav a{margin-right:.8rem}
"""


def _rel(path: Path, root: Path) -> str:
    """A link from ``root`` to ``path``, with forward slashes and URL quoting."""
    from urllib.parse import quote

    return quote(os.path.relpath(path, root).replace(os.sep, "/"))


def _players(items: Sequence[tuple[str, Path]], root: Path) -> str:
    out = ['<div class="players">']
    for label, path in items:
        out.append(f'<div class="player"><div>{html.escape(label)} '
                   f'(<a href="{_rel(path, root)}" download>download</a>)</div>'
                   f'<audio controls preload="metadata" src="{_rel(path, root)}"></audio></div>')
    out.append("</div>")
    return "\n".join(out)


def _section(s: Section, root: Path) -> str:
    parts = [f'<section id="{html.escape(s.key)}"><h2>{html.escape(s.title)}'
             f'<span class="status {s.status}">{s.status}</span></h2>',
             f"<p>{html.escape(s.blurb)}</p>"]
    if s.inputs:
        parts += ["<h3>Input</h3>", _players(s.inputs, root)]
    if s.status != "ok":
        parts.append(f'<p class="note"><b>{"Skipped" if s.status == "skipped" else "Failed"}:'
                     f"</b> {html.escape(s.reason)}</p>")
    o = s.outcome
    if o is not None:
        if o.audio:
            parts += ["<h3>Result</h3>", _players(o.audio, root)]
        if o.text:
            parts.append(f"<pre>{html.escape(o.text)}</pre>")
        for label, img in o.images:
            parts.append(f'<p><img src="{_rel(img, root)}" alt="{html.escape(label)}"></p>')
        if o.metrics:
            rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                           for k, v in o.metrics)
            parts.append(f"<table><tr><th>metric</th><th>value</th></tr>{rows}</table>")
        for note in o.notes:
            parts.append(f'<p class="note">{html.escape(note)}</p>')
    if s.status == "ok":
        parts.append(f'<p class="note">Took {s.seconds:.1f} s.</p>')
    parts.append("</section>")
    return "\n".join(parts)


def render_html(sections: Sequence[Section], root: str | os.PathLike, *,
                title: str = "sonomorph demo", facts: Sequence[tuple[str, str]] = ()) -> str:
    """The report page for ``sections``; links are relative to ``root`` (the page's folder)."""
    root = Path(root)
    done = sum(s.status == "ok" for s in sections)
    skipped = [s.title for s in sections if s.status == "skipped"]
    failed = [s.title for s in sections if s.status == "failed"]
    summary = f"{done} of {len(sections)} capabilities ran"
    if skipped:
        summary += f"; skipped: {', '.join(skipped)}"
    if failed:
        summary += f"; failed: {', '.join(failed)}"
    when = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    fact_rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                        for k, v in [("written", when), ("python", platform.python_version()),
                                     *facts])
    nav = " ".join(f'<a href="#{html.escape(s.key)}">{html.escape(s.title)}</a>'
                   for s in sections)
    body = "\n".join(_section(s, root) for s in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
            f"<h1>{html.escape(title)}</h1><p class=\"sub\">{html.escape(summary)}.</p>\n"
            f"<nav>{nav}</nav>\n{body}\n<h2>About this run</h2><table>{fact_rows}</table>\n"
            f"</body></html>\n")


def write_report(sections: Sequence[Section], folder: str | os.PathLike, *,
                 title: str = "sonomorph demo", facts: Sequence[tuple[str, str]] = (),
                 overwrite: bool = False) -> Path:
    """Write ``folder/index.html`` (atomically) for ``sections``; returns its path."""
    folder = Path(folder)
    page = render_html(sections, folder, title=title, facts=facts)
    return atomic_write_text(folder / "index.html", page, overwrite=overwrite)

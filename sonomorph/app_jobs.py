"""The web UI's requests, apart from its layout (:mod:`sonomorph.app`): the settings a
server runs with, upload checks, one capability run per request in its own job folder with
Gradio's progress bar, several files at once into one zip, and every failure as one line
naming the uploaded file (never the server's temporary path).

Gradio is imported only where a request needs its ``gr.Error``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sonomorph.capabilities import capability, run, safe_stem
from sonomorph.demo_report import Outcome
from sonomorph.errors import SonomorphError

log = logging.getLogger("sonomorph.app")

DEFAULT_MAX_UPLOAD_MB = 200.0
JOB_MAX_AGE_S = 6 * 3600  # job folders older than this are removed when a new job starts


class AppSettings:
    """What the UI needs to know: model overrides (kind -> file), the device, the private
    work folder and the upload limit."""

    def __init__(self, workdir: str | os.PathLike, *, models: Mapping[str, str] | None = None,
                 device: str = "cpu", max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
                 upload_dirs: tuple[str | os.PathLike, ...] = ()) -> None:
        self.workdir = Path(workdir)
        # Where uploads may come from (the private folder, the examples); empty: anywhere.
        self.upload_dirs = tuple(Path(d).resolve() for d in upload_dirs)
        self.models = dict(models or {})
        self.device = device
        self.max_upload_bytes = int(max_upload_mb * 1024 * 1024)
        self.max_upload_mb = float(max_upload_mb)

    def new_job(self, key: str) -> Path:
        """A fresh folder for one request's outputs (old ones are cleared away)."""
        jobs = self.workdir / "jobs"
        jobs.mkdir(parents=True, exist_ok=True)
        now = time.time()
        for old in jobs.iterdir():
            with contextlib.suppress(OSError):
                if now - old.stat().st_mtime > JOB_MAX_AGE_S:
                    shutil.rmtree(old, ignore_errors=True)
        job = jobs / f"{key}-{uuid.uuid4().hex[:12]}"
        job.mkdir()
        return job


def _check_upload(path: str | None, settings: AppSettings, what: str) -> Path:
    import gradio as gr

    if not path:
        raise gr.Error(f"Upload or record the {what} first.")
    p = Path(path)
    if settings.upload_dirs and not any(p.resolve().is_relative_to(d) for d in settings.upload_dirs):
        # Gradio hands us only its own copies; anything else is a crafted request.
        raise gr.Error(f"The {what} is not an uploaded file.")
    if not p.is_file():
        raise gr.Error(f"The {what} upload is missing; upload it again.")
    if p.stat().st_size > settings.max_upload_bytes:
        raise gr.Error(f"{p.name}: larger than the upload limit of {settings.max_upload_mb:g} MB")
    return p


def _progress_callback(progress: Any, title: str):
    def update(done: float, total: float | None = None) -> None:
        if total:
            progress(min(float(done) / float(total), 1.0), desc=title)
        else:
            progress(None, desc=title)

    return update


def failure_text(key: str, exc: Exception, uploads: Mapping[str, Path]) -> str:
    """The line a failed request shows: the error's own line for a SonomorphError (with
    the uploads' names), otherwise a note that it is a bug (the traceback goes to the log)."""
    if isinstance(exc, SonomorphError):
        return _friendly(exc, uploads)
    log.error("%s failed", key, exc_info=exc)
    return f"unexpected error (a bug, please report it): {type(exc).__name__}: {exc}"


def _friendly(exc: SonomorphError, uploads: Mapping[str, Path]) -> str:
    """The one-line message, naming uploaded files by their own names rather than the
    server's temporary paths."""
    text = str(exc)
    for p in uploads.values():
        text = text.replace(str(p), p.name)
    return text


def call(key: str, uploads: Mapping[str, Path], settings: AppSettings, progress: Any = None,
         **options: Any) -> Outcome:
    """Run capability ``key`` for the UI: a new job folder, progress into Gradio's bar, and
    errors as ``gr.Error`` with one line (a SonomorphError) or a note that it is a bug."""
    import gradio as gr

    title = capability(key).title
    job = settings.new_job(key)
    callback = _progress_callback(progress, title) if progress is not None else None
    if callback is not None:
        callback(0, 1)
    try:
        return run(key, uploads, job, models=settings.models, progress=callback,
                   device=settings.device, **options)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line
        raise gr.Error(failure_text(key, exc, uploads)) from None


def _files(o: Outcome) -> list[str]:
    return [str(p) for _, p in o.audio] + [str(p) for _, p in o.images]


def call_batch(key: str, role: str, paths: list[Path], settings: AppSettings,
               progress: Any = None, *, fixed: Mapping[str, Path] | None = None,
               **options: Any) -> tuple[list[Outcome], Path, list[str]]:
    """Run ``key`` on each uploaded file as its input ``role`` (one job folder, a sub-folder
    per file) and zip every result into one file. ``fixed``: the other inputs, the same for
    every file (Style transfer's style clip). Returns the outcomes, the zip, and one line per
    file that failed (the others still run)."""
    import zipfile

    fixed = dict(fixed or {})
    title = capability(key).title
    job = settings.new_job(key)
    outcomes, failures, used = [], [], set()
    for i, path in enumerate(paths):
        stem = safe_stem(path.name)
        folder = stem if stem not in used else f"{stem}-{i + 1}"
        used.add(folder)
        cb = None
        if progress is not None:
            def cb(done, total, i=i, name=path.name):  # noqa: ANN001 - progress callback
                share = min(float(done) / float(total), 1.0) if total else 0.0
                progress((i + share) / len(paths), desc=f"{title}: {name}")
        try:
            outcomes.append(run(key, {**fixed, role: path}, job / folder,
                                models=settings.models, progress=cb, device=settings.device,
                                **options))
        except Exception as exc:  # noqa: BLE001 - report it, go on with the other files
            failures.append(f"{path.name}: {failure_text(key, exc, {**fixed, role: path})}")
    if not outcomes:
        import gradio as gr

        raise gr.Error("; ".join(failures) or "nothing to do")
    archive = job / f"sonomorph-{key}-results.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for o in outcomes:
            for _, p in o.audio + o.images:
                z.write(p, p.relative_to(job).as_posix())
    return outcomes, archive, failures


#: What each tab's batch handles, in the summary line: (one upload, several, what was done).
BATCH_WORDS = {
    "karaoke": ("song", "songs", "separated"),
    "scream": ("voice", "voices", "screamed"),
    "accompany": ("vocal line", "vocal lines", "accompanied"),
    "style": ("content", "content clips", "styled"),
    "genre": ("clip", "clips", "classified"),
    "silence": ("recording", "recordings", "trimmed"),
}


def run_one_or_many(key: str, role: str, single: str | None, many: list[str] | None,
                    settings: AppSettings, progress: Any = None, *,
                    fixed: Mapping[str, Path] | None = None,
                    **options: Any) -> tuple[Outcome, list[str], str]:
    """The handler every one-file tab shares: run ``key`` on the ``single`` upload, or, when
    ``many`` files were uploaded, on each of them (:func:`call_batch`). Returns the outcome
    to show in the players (the first file's), the files to offer for download (the zip
    first) and a summary: one line of counts, each file's answer when the capability gives
    one in words (Genre), and one line per file that failed; empty for a single file. When
    both are given, the ``single`` upload is the batch's first file (never dropped)."""
    one, several, done = BATCH_WORDS[key]
    fixed = dict(fixed or {})
    if not many:
        o = call(key, {**fixed, role: _check_upload(single, settings, one)}, settings,
                 progress, **options)
        return o, _files(o), ""
    uploads = ([single] if single else []) + [p for p in many if p != single]
    paths = [_check_upload(p, settings, one) for p in uploads]
    outcomes, archive, failures = call_batch(key, role, paths, settings, progress,
                                             fixed=fixed, **options)
    lines = [f"{len(outcomes)} of {len(paths)} {several} {done}; all the results are in "
             f"{archive.name}."]
    lines += [f"- {line}" for o in outcomes for line in o.text.splitlines()]
    lines += [f"- failed: {f}" for f in failures]
    return outcomes[0], [str(archive)] + _files(outcomes[0]), "  \n".join(lines)

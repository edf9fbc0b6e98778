"""Reading the real-audio library that ``sonomorph corpus sources`` builds
(:mod:`sonomorph.data.corpus.sources`): its manifest's records, by kind and split, for the
corpus builders that use real recordings (multitrack, speech, screams).

Python API::

    from sonomorph.data.corpus.sources_library import load_library
    records = load_library("corpora/sources", kind="speech", split="train")
    for r in records:
        r.path        # absolute Path of the FLAC file
        r.kind        # "music" | "speech" | "screams"
        r.group       # folder name: source, speaker or character (the unit of the split)
        r.split       # "train" | "valid" | "test-real"
        r.duration    # seconds
        r.sample_rate, r.channels
        r.label       # dict: speaker / character / source, language, culture, gender
                      # (the keys that are known for that file)
        r.package, r.version, r.licence, r.member, r.sha256

:func:`group_records` gives the records by folder.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sonomorph.data.corpus.common import MANIFEST
from sonomorph.errors import ConfigError

KINDS = ("music", "speech", "screams")
SPLITS = ("train", "valid", "test-real")
BUILDER = "sources"


# ----------------------------------------------------------------------------- library API


@dataclass(frozen=True)
class SourceRecord:
    """One file of the library (see the module docstring)."""

    path: Path
    rel: str
    kind: str
    group: str
    split: str
    duration: float
    sample_rate: int
    channels: int
    package: str
    version: str
    licence: str
    member: str
    sha256: str
    label: dict

    @property
    def speaker(self) -> str | None:
        return self.label.get("speaker")

    @property
    def character(self) -> str | None:
        return self.label.get("character")


def load_library(root: str | os.PathLike, kind: str | None = None, split: str | None = None
                 ) -> list[SourceRecord]:
    """The records of a library built by ``sonomorph corpus sources``, sorted by path,
    optionally only one ``kind`` (music, speech, screams) and one ``split`` (train,
    valid, test-real). Raises :class:`ConfigError` when ``root`` holds no library."""
    root = Path(root)
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"unknown kind {kind!r}: choose from {', '.join(KINDS)}")
    if split is not None and split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}: choose from {', '.join(SPLITS)}")
    try:
        manifest = json.loads((root / MANIFEST).read_text("utf-8"))
    except OSError:
        raise ConfigError("no manifest.json: not a sources library (build it with "
                          "`sonomorph corpus sources --out DIR`)", root) from None
    except ValueError:
        raise ConfigError("manifest.json is not valid JSON", root) from None
    if manifest.get("builder") != BUILDER or not isinstance(manifest.get("files"), dict):
        raise ConfigError("manifest.json is not a sources library's", root)
    records = []
    for rel, r in sorted(manifest["files"].items()):
        if (kind and r["kind"] != kind) or (split and r["split"] != split):
            continue
        records.append(SourceRecord(
            path=(root / rel).resolve(), rel=rel, kind=r["kind"], group=r["group"], split=r["split"],
            duration=float(r["duration"]), sample_rate=int(r["sample_rate"]), channels=int(r["channels"]),
            package=r["package"], version=r.get("version", ""), licence=r.get("licence", ""),
            member=r.get("member", ""), sha256=r["sha256"], label=dict(r.get("label", {}))))
    return records


def group_records(records: Iterable[SourceRecord]) -> dict[str, list[SourceRecord]]:
    """Records by folder (source, speaker or character), in sorted order."""
    out: dict[str, list[SourceRecord]] = defaultdict(list)
    for r in records:
        out[r.group].append(r)
    return dict(sorted(out.items()))

"""Readers for the folder layouts of the datasets sonomorph trains and evaluates on.

Each indexer only lists files (nothing is decoded) and returns small dataclasses:

- :func:`musdb_tracks` - MUSDB18-HQ: ``train|test/<track>/{mixture,vocals,bass,drums,other}.wav``
  (``.flac`` and the other formats soundfile reads accepted). ``accompaniment`` is the
  file when present (the synthetic multitrack corpus writes one), else the sum of bass,
  drums and other. A two-stem track folder, ``{mixture,vocals,accompaniment}.wav``
  (mixture optional), is a track with stems vocals and accompaniment. Split ``valid``
  is MUSDB's official 14-track validation subset of ``train`` (a ``valid/`` folder wins
  when it exists); ``train`` then excludes those tracks. Any other split folder
  (``test-real``) is read by name.
- :func:`scoring_tracks` - what evaluation scores: the above, or a folder that is one
  track (stems directly inside it) or holds track folders without split folders.
- :func:`ccmixter_tracks` - CCMixter: ``<track>/{mix,source-01,source-02}.wav``. As in the
  distribution by Liutkus et al., ``source-01`` is the accompaniment (music) and
  ``source-02`` the vocals.
- :func:`gtzan_clips` - GTZAN: ``<genre>/<file>.{wav,au}`` plus optional split files
  (``splits/{train,valid,test}.txt`` or the fault-filtered ``{train,valid,test}_filtered.txt``)
  listing ``<genre>/<file>``.
- :func:`vctk_utterances` - VCTK 0.92 (``wav48_silence_trimmed/<spk>/<spk>_<NNN>_mic1.flac``),
  older VCTK (``wav48/<spk>/*.wav``), our speech corpus (``wav/<spk>/<spk>_<NNN>.wav``),
  all with ``txt/<spk>/<spk>_<NNN>.txt``; or a flat ``<speaker>/<utt>.wav`` folder.
- :func:`folder_audio` - any folder of audio files.

A folder that matches none of these raises :class:`DatasetError` saying what was expected.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from sonomorph.audio.io import AUDIO_EXTENSIONS
from sonomorph.errors import SonomorphError

MUSDB_STEMS = ("vocals", "drums", "bass", "other")
TWO_STEMS = ("vocals", "accompaniment")
MUSDB_SPLITS = ("train", "valid", "test", "train+valid")

# MUSDB18's official validation subset (from the musdb package's configuration).
MUSDB_VALIDATION = (
    "Actions - One Minute Smile",
    "Clara Berry And Wooldog - Waltz For My Victims",
    "Johnny Lokke - Promises & Lies",
    "Patrick Talbot - A Reason To Leave",
    "Triviul - Angelsaint",
    "Alexander Ross - Goodbye Bolero",
    "Fergessen - Nos Palpitants",
    "Leaf - Summerghost",
    "Skelpolu - Human Mistakes",
    "Young Griffo - Pennies",
    "ANiMAL - Rockshow",
    "James May - On The Line",
    "Meaxic - Take A Step",
    "Traffic Experiment - Sirens",
)

_MUSDB_EXPECTED = ("MUSDB18-HQ layout: train/ and test/ folders of <track>/{mixture,vocals,bass,"
                   "drums,other}.wav or <track>/{mixture,vocals,accompaniment}.wav")
_CCMIXTER_EXPECTED = "CCMixter layout: <track>/{mix,source-01,source-02}.wav"


class DatasetError(SonomorphError):
    """A dataset folder does not match the layout it was given as (or any layout)."""


@dataclass(frozen=True)
class Track:
    """One multitrack song. ``files`` maps source names (``mixture``, ``vocals``, ...) to
    files; ``derived`` maps sources that have no file of their own to the sources
    whose sum they are (``accompaniment`` -> bass + drums + other). ``stems`` are the
    base sources whose sum is the mixture."""

    name: str
    split: str
    folder: Path
    files: dict[str, Path]
    stems: tuple[str, ...]
    derived: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def sources(self) -> tuple[str, ...]:
        """Every source name this track can provide (files and derived)."""
        return tuple(sorted(set(self.files) | set(self.derived)))

    def parts(self, source: str) -> tuple[Path, ...]:
        """The files whose sum is ``source``."""
        if source in self.files:
            return (self.files[source],)
        if source in self.derived:
            return tuple(self.files[s] for s in self.derived[source])
        raise DatasetError(
            f"track has no source {source!r} (it has {', '.join(self.sources)})", self.folder
        )

    def base_stems(self, source: str) -> tuple[str, ...]:
        """The base stems that ``source`` covers (``mixture`` covers all of them)."""
        if source == "mixture":
            return self.stems
        if source in self.stems:
            return (source,)
        if source in self.derived:
            return self.derived[source]
        if source == "accompaniment" and "vocals" in self.stems:
            return tuple(s for s in self.stems if s != "vocals")
        raise DatasetError(
            f"track has no source {source!r} (it has {', '.join(self.sources)})", self.folder
        )


@dataclass(frozen=True)
class LabelledClip:
    """One labelled audio clip (GTZAN: label = genre). ``split`` is None when the
    dataset has no split files."""

    path: Path
    label: str
    split: str | None = None


@dataclass(frozen=True)
class Utterance:
    """One utterance of one speaker, with its transcript when there is one."""

    path: Path
    speaker: str
    utterance: str
    text: str | None = None


# ----------------------------------------------------------------------------- helpers


def _require_dir(root: str | os.PathLike, what: str) -> Path:
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"no such folder (expected {what})", root)
    if not root.is_dir():
        raise DatasetError(f"not a folder (expected {what})", root)
    return root


def _is_audio(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".")


# Stem file extensions, in order of preference (lossless first); all read by soundfile.
_STEM_EXTENSIONS = (".wav", ".flac", ".aiff", ".aif", ".w64", ".caf", ".ogg", ".mp3")


def _find_stem(folder: Path, stem: str) -> Path | None:
    for ext in _STEM_EXTENSIONS:
        p = folder / f"{stem}{ext}"
        if p.is_file():
            return p
    return None


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def folder_audio(root: str | os.PathLike, *, recursive: bool = True) -> list[Path]:
    """Every audio file under ``root`` (sorted; hidden files and folders skipped)."""
    from sonomorph.audio.io import find_audio_files

    root = _require_dir(root, "a folder of audio files")
    found = find_audio_files(root, recursive=recursive)
    if not found:
        raise DatasetError("folder holds no audio files", root)
    return found


# ----------------------------------------------------------------------------- multitrack


def _musdb_track(folder: Path, split: str) -> Track | None:
    """A track folder with the four MUSDB stems, or (a two-stem track) only ``vocals``
    and ``accompaniment``; ``mixture`` is optional in both (the sum of the stems)."""
    files = {}
    for stem in ("mixture", *MUSDB_STEMS, "accompaniment"):
        p = _find_stem(folder, stem)
        if p is not None:
            files[stem] = p
    if all(s in files for s in MUSDB_STEMS):
        stems = MUSDB_STEMS
    elif all(s in files for s in TWO_STEMS):
        stems = TWO_STEMS
        files = {k: v for k, v in files.items() if k in ("mixture", *TWO_STEMS)}
    else:
        return None
    derived = {}
    if "accompaniment" not in files:
        derived["accompaniment"] = ("drums", "bass", "other")
    if "mixture" not in files:
        derived["mixture"] = stems
    return Track(folder.name, split, folder, files, stems, derived)


def _validation_names(train_names: list[str]) -> set[str]:
    """MUSDB's validation tracks when the folder holds them; otherwise (a synthetic
    corpus) a stable tenth of the tracks chosen by a hash of their names, at least one."""
    official = set(MUSDB_VALIDATION) & set(train_names)
    if official or len(train_names) < 2:
        return official

    def h(name: str) -> int:
        return int(hashlib.sha1(name.encode("utf-8")).hexdigest()[:8], 16)

    chosen = {n for n in train_names if h(n) % 10 == 0}
    return chosen or {min(train_names, key=h)}


def musdb_tracks(root: str | os.PathLike, split: str = "train") -> list[Track]:
    """The tracks of a MUSDB18-HQ-layout folder for ``split`` (train, valid, test,
    train+valid, or the name of any other split folder, such as ``test-real``), sorted
    by name."""
    root = _require_dir(root, _MUSDB_EXPECTED)
    extra = split not in MUSDB_SPLITS and not split.startswith(".") and "/" not in split
    if not (split in MUSDB_SPLITS or (extra and (root / split).is_dir())):
        found = [d.name for d in _subdirs(root) if d.name not in MUSDB_SPLITS]
        choices = ", ".join([*MUSDB_SPLITS, *found])
        raise DatasetError(f"unknown split {split!r} (choose from {choices})", root)

    def scan(sub: str) -> list[Track]:
        folder = root / sub
        if not folder.is_dir():
            return []
        tracks = [_musdb_track(d, sub) for d in _subdirs(folder)]
        return [t for t in tracks if t is not None]

    has_valid_dir = (root / "valid").is_dir()
    if split == "test" or extra:
        out = scan(split)
    elif has_valid_dir:
        out = {"train": scan("train"), "valid": scan("valid"),
               "train+valid": scan("train") + scan("valid")}[split]
    else:
        train = scan("train")
        valid = _validation_names([t.name for t in train])
        if split == "train":
            out = [t for t in train if t.name not in valid]
        elif split == "valid":
            out = [Track(t.name, "valid", t.folder, t.files, t.stems, t.derived)
                   for t in train if t.name in valid]
        else:
            out = train
    if not out:
        raise DatasetError(f"no tracks for split {split!r} (expected {_MUSDB_EXPECTED})", root)
    return sorted(out, key=lambda t: t.name)


def ccmixter_tracks(root: str | os.PathLike) -> list[Track]:
    """The tracks of a CCMixter folder (split ``all``): ``mix`` is the mixture,
    ``source-01`` the accompaniment, ``source-02`` the vocals."""
    root = _require_dir(root, _CCMIXTER_EXPECTED)
    tracks = []
    for d in _subdirs(root):
        mix, acc, voc = (_find_stem(d, s) for s in ("mix", "source-01", "source-02"))
        if acc is None or voc is None:
            continue
        files = {"accompaniment": acc, "vocals": voc}
        derived = {}
        if mix is not None:
            files["mixture"] = mix
        else:
            derived["mixture"] = ("vocals", "accompaniment")
        tracks.append(Track(d.name, "all", d, files, ("vocals", "accompaniment"), derived))
    if not tracks:
        raise DatasetError(f"no tracks found (expected {_CCMIXTER_EXPECTED})", root)
    return tracks


def multitrack_tracks(root: str | os.PathLike, split: str = "train") -> list[Track]:
    """MUSDB18-HQ or CCMixter tracks, whichever layout ``root`` has (CCMixter has no
    splits: any split gives all its tracks)."""
    layout = detect_layout(root)
    if layout == "musdb":
        return musdb_tracks(root, split)
    if layout == "ccmixter":
        return ccmixter_tracks(root)
    what = "a folder of audio files" if layout == "folder" else f"a {layout} folder"
    raise DatasetError(
        f"looks like {what}, not a multitrack one (expected {_MUSDB_EXPECTED}; "
        f"or {_CCMIXTER_EXPECTED}; or one track folder of such stems)", root,
    )


def scoring_tracks(root: str | os.PathLike, split: str = "test") -> list[Track]:
    """The tracks to score for ``split``: :func:`multitrack_tracks`, and also the folders
    a user has at hand without split folders. ``root`` may be one track folder (its stems
    directly inside, e.g. ``vocals.wav`` and ``accompaniment.wav``, or MUSDB's four
    stems, the mixture optional: then the sum of the stems), or a folder of such track
    folders; every split then gives all of its tracks, as with CCMixter."""
    root = _require_dir(root, _MUSDB_EXPECTED)
    try:
        return multitrack_tracks(root, split)
    except DatasetError as error:
        own = _musdb_track(root, split)
        if own is not None:
            return [own]
        if (root / split).is_dir() and "/" not in split and not split.startswith("."):
            tracks = [_musdb_track(d, split) for d in _subdirs(root / split)]
        else:
            tracks = [_musdb_track(d, split) for d in _subdirs(root)]
        tracks = [t for t in tracks if t is not None]
        if not tracks:
            raise error from None
        return sorted(tracks, key=lambda t: t.name)


# ----------------------------------------------------------------------------- GTZAN

_SPLIT_FILE_NAMES = {
    "train": ("train.txt", "train_filtered.txt"),
    "valid": ("valid.txt", "valid_filtered.txt", "val.txt", "validation.txt"),
    "test": ("test.txt", "test_filtered.txt"),
}
_GTZAN_EXPECTED = "GTZAN layout: <genre>/<clip>.wav folders"


def _split_file(root: Path, split: str) -> Path | None:
    for folder in (root / "splits", root, root.parent):
        for name in _SPLIT_FILE_NAMES[split]:
            if (folder / name).is_file():
                return folder / name
    return None


def _clip_key(rel: str) -> str:
    """``genre/name`` without extension, so ``blues/blues.00000.au`` matches ``.wav``."""
    parts = rel.strip().replace("\\", "/").split("/")
    return "/".join(parts[-2:-1] + [os.path.splitext(parts[-1])[0]])


def gtzan_clips(root: str | os.PathLike, split: str | None = None) -> list[LabelledClip]:
    """The labelled clips of a GTZAN-layout folder, sorted by (label, file).

    ``split`` (train, valid, test) needs a split file; None gives every clip, each
    marked with its split when split files exist."""
    root = _require_dir(root, _GTZAN_EXPECTED)
    subs = [d.name for d in _subdirs(root) if d.name != "splits"]
    if len(subs) == 1 and subs[0] in ("genres", "genres_original"):  # the archives' top folder
        root = root / subs[0]
    clips = []
    for d in _subdirs(root):
        if d.name == "splits":
            continue
        clips += [(d.name, p) for p in sorted(d.iterdir()) if _is_audio(p)]
    if not clips:
        raise DatasetError(f"no clips found (expected {_GTZAN_EXPECTED})", root)
    membership: dict[str, str] = {}
    for name in ("train", "valid", "test"):
        f = _split_file(root, name)
        if f is None:
            continue
        for line in f.read_text("utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                membership[_clip_key(line)] = name
    if split is not None:
        if split not in _SPLIT_FILE_NAMES:
            raise DatasetError(f"unknown split {split!r} (choose from train, valid, test)", root)
        if _split_file(root, split) is None:
            raise DatasetError(
                f"no split file for {split!r} (expected splits/{split}.txt or "
                f"{split}_filtered.txt listing <genre>/<clip>.wav)", root,
            )
    out = []
    for label, p in clips:
        s = membership.get(f"{label}/{p.stem}")
        if split is None or s == split:
            out.append(LabelledClip(p, label, s))
    if split is not None and not out:
        raise DatasetError(f"split {split!r} lists no clip that exists under the folder", root)
    return out


# ----------------------------------------------------------------------------- VCTK

_VCTK_WAV_DIRS = ("wav48_silence_trimmed", "wav48", "wav", "wav16", "wav22", "wav24")
_VCTK_EXPECTED = ("VCTK layout: wav48_silence_trimmed/<spk>/<spk>_<NNN>_mic1.flac, "
                  "wav48/<spk>/*.wav or wav/<spk>/*.wav (with txt/<spk>/*.txt), "
                  "or <speaker>/<utt>.wav folders")
_MIC = re.compile(r"_(mic[12])$")


def speaker_info(root: str | os.PathLike) -> dict[str, dict[str, str]]:
    """``{speaker: {"accent", "region", "comments"}}`` from a VCTK-style speaker-info.txt."""
    f = Path(root) / "speaker-info.txt"
    out: dict[str, dict[str, str]] = {}
    if not f.is_file():
        return out
    for line in f.read_text("utf-8", "replace").splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 5:
            out[parts[0]] = {"accent": parts[3], "region": parts[4],
                             "comments": " ".join(parts[5:])}
    return out


def vctk_utterances(root: str | os.PathLike, *, mic: str = "mic1") -> list[Utterance]:
    """The utterances of a VCTK-layout folder, sorted by (speaker, utterance).

    For VCTK 0.92 only the ``mic`` recording (mic1 or mic2) of each utterance is kept
    and its id drops the ``_micN`` suffix. Transcripts come from ``txt/<spk>/<utt>.txt``
    or a ``<utt>.txt`` beside the audio."""
    root = _require_dir(root, _VCTK_EXPECTED)
    if mic not in ("mic1", "mic2"):
        raise DatasetError(f"mic must be mic1 or mic2, not {mic!r}", root)
    wav_dir = next((root / d for d in _VCTK_WAV_DIRS if (root / d).is_dir()), None)
    txt_dir = root / "txt" if (root / "txt").is_dir() else None
    if wav_dir is None:  # flat <speaker>/<utt>.wav
        wav_dir = root
    out = []
    for spk_dir in _subdirs(wav_dir):
        if wav_dir == root and spk_dir.name in ("txt", "splits"):
            continue
        for p in sorted(spk_dir.iterdir()):
            if not _is_audio(p):
                continue
            utt = p.stem
            m = _MIC.search(utt)
            if m is not None:
                if m.group(1) != mic:
                    continue
                utt = utt[: m.start()]
            text = None
            for t in ((txt_dir / spk_dir.name / f"{utt}.txt") if txt_dir else None,
                      p.with_suffix(".txt")):
                if t is not None and t.is_file():
                    text = t.read_text("utf-8", errors="replace").strip()
                    break
            out.append(Utterance(p, spk_dir.name, utt, text))
    if not out:
        raise DatasetError(f"no utterances found (expected {_VCTK_EXPECTED})", root)
    return sorted(out, key=lambda u: (u.speaker, u.utterance))


# ----------------------------------------------------------------------------- detection


def detect_layout(root: str | os.PathLike) -> str:
    """Which layout ``root`` has: ``musdb``, ``ccmixter``, ``vctk``, ``gtzan`` or
    ``folder`` (any audio at all). Raises :class:`DatasetError` when it holds no audio."""
    root = _require_dir(root, "a dataset folder")
    for sub in ("train", "test"):
        d = root / sub
        if d.is_dir() and any(_musdb_track(t, sub) for t in _subdirs(d)):
            return "musdb"
    subdirs = _subdirs(root)
    if any(_find_stem(d, "source-01") and _find_stem(d, "source-02") for d in subdirs):
        return "ccmixter"
    if any((root / d).is_dir() for d in _VCTK_WAV_DIRS) and (root / "txt").is_dir():
        return "vctk"
    if (root / "speaker-info.txt").is_file():
        return "vctk"
    if subdirs and any(_split_file(root, s) for s in _SPLIT_FILE_NAMES):
        return "gtzan"
    audio = [(d, p) for d in subdirs if d.name != "splits" for p in d.iterdir() if _is_audio(p)]
    genre_named = sum(1 for d, p in audio if p.name.startswith(d.name + "."))
    if audio and genre_named * 2 >= len(audio):
        return "gtzan"
    folder_audio(root)
    return "folder"

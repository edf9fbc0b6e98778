"""``corpus screams``: real screams from the library (train split only in training), voices
mixing real speech and synthetic speakers, held-out splits disjoint by speaker and
character, English clips of known text, and the same bytes when built again."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf
from _scream_library import CHARACTERS, SPEAKERS, make_library

from sonomorph.data.corpus.common import missing_tools
from sonomorph.data.corpus.screams import (
    TEXT_SENTENCES,
    build_screams,
    render_text,
    synthetic_jobs,
    text_jobs,
)
from sonomorph.data.corpus.tts import Voice
from sonomorph.data.datasets import FolderSegments
from sonomorph.errors import ConfigError
from sonomorph.train.recipes.scream import speaker_of

NEEDED = ("text2wave", "flite", "espeak-ng")
needs_tools = pytest.mark.skipif(
    bool(missing_tools(*NEEDED)) and os.environ.get("CI") != "true",
    reason=f"needs the Debian packages {' '.join(missing_tools(*NEEDED))} "
    "(scripts/install-system-deps.sh)",
)


def fake_voices() -> dict[str, list[Voice]]:
    return {"festival": [Voice("festival", "kal_diphone", "en", "M")],
            "flite": [Voice("flite", "slt", "en", "F"), Voice("flite", "awb", "en", "M")],
            "espeak-ng": [Voice("espeak-ng", f"en-us+{v}", "en", "M") for v in "m1 m2 m3 f1 f2".split()]}


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return make_library(tmp_path_factory.mktemp("lib"))


def build(library, out):
    # real_voices=1 and no synthesiser: the real part alone, no Debian package needed
    return build_screams(out, library=library, seed=3, minutes=0.05, real_voices=1.0,
                         heldout_clips=2, workers=1, quiet=True, voices={})


def test_real_part_is_split_by_character_and_speaker(tmp_path, library):
    out = tmp_path / "c"
    summary = build(library, out)
    clips = json.loads((out / "clips.json").read_text())
    audio = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav"))
    assert audio == sorted(clips)
    split_of = {}
    for rel, c in clips.items():
        assert c["origin"] == "real"
        folder = rel.rsplit("/", 1)[0]
        want = {"voices": "train", "screams": "train", "valid/voices": "valid",
                "valid/screams": "valid", "test-real/voices": "test-real",
                "test-real/screams": "test-real"}[folder]
        assert c["split"] == want, rel
        # a group lives in one split only
        assert split_of.setdefault(c["group"], c["split"]) == c["split"], rel
        truth = (CHARACTERS if c["side"] == "screams" else SPEAKERS)[c["group"]][1]
        assert c["split"] == truth, rel
    # every scream of the library is used, train characters only in screams/
    assert {c["group"] for r, c in clips.items() if r.startswith("screams/")} == {"grunt", "brute"}
    assert {c["group"] for r, c in clips.items() if r.startswith("test-real/screams/")} == {"ghoul"}
    assert sum(1 for c in clips.values() if c["side"] == "screams") == 3 * len(CHARACTERS)
    # the recipe's speaker of a file name is the library group (voices get r_)
    for rel, c in clips.items():
        name = rel.rsplit("/", 1)[1]
        assert speaker_of(name) == ("r_" if c["side"] == "voices" else "") + c["group"]
    assert summary["groups"]["test-real/screams"] == 1 and summary["groups"]["voices"] == 2
    for rel in audio:
        wav, sr = sf.read(out / rel, dtype="float32")
        assert sr == 22050 and wav.ndim == 1 and 0.1 < np.abs(wav).max() <= 0.91
    # the trainer's reader finds crops on both training sides
    crops = FolderSegments(out / "screams", 0.5, 22050, seed=0)
    assert crops[0]["audio"].shape == (1, 11025)


def test_same_library_and_seed_give_the_same_bytes(tmp_path, library):
    build(library, tmp_path / "a")
    build(library, tmp_path / "b")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                   if p.is_file() and ".done" not in p.parts)
    assert files
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_missing_library_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="corpus sources"):
        build_screams(tmp_path / "c", library=tmp_path / "nope", voices={}, quiet=True)


def test_synthetic_voices_and_text_set_plans():
    jobs = synthetic_jobs(seed=0, minutes=2.0, speakers=4, voices=fake_voices())
    assert all(j.key.startswith(("voices/", "valid/voices/")) for j in jobs)
    train = {j.params["speaker"] for j in jobs if j.key.startswith("voices/")}
    valid = {j.params["speaker"] for j in jobs if j.key.startswith("valid/")}
    assert train and valid and not train & valid
    # about 2 minutes at ~3.8 s per line
    assert 2 * 60 <= sum(j.params["lines"] for j in jobs) * 3.8 < 2 * 60 + 30
    texts = text_jobs(seed=0, per_voice=2, voices=fake_voices())
    # only the English festival/flite voices of the text set, each saying known sentences
    assert {j.params["voice"]["name"] for j in texts} == {"kal_diphone", "slt", "awb"}
    assert all(j.params["text"] in TEXT_SENTENCES for j in texts)
    assert len({j.params["text"] for j in texts}) == len(texts)


@needs_tools
def test_text_clip_has_its_sentence_beside_it(tmp_path):
    job = text_jobs(seed=0, per_voice=1, voices={"flite": [Voice("flite", "slt", "en", "F")]})[0]
    wav, txt = render_text(job, tmp_path)
    assert txt.read_text().strip() == job.params["text"]
    audio, sr = sf.read(wav, dtype="float32")
    assert sr == 22050 and len(audio) / sr > 1.0
    again = render_text(job, tmp_path / "again")[0]
    assert again.read_bytes() == wav.read_bytes()

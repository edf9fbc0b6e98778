"""``corpus speech``: a tiny build has the VCTK layout our loader reads, sane lengths,
transcripts, distinct speakers, and the same bytes when built again."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf

from sonomorph.data.corpus.common import missing_tools
from sonomorph.data.corpus.speech import build_speech, plan_speakers
from sonomorph.data.corpus.tts import Voice, clean_text, sentence
from sonomorph.data.layouts import detect_layout, vctk_utterances

NEEDED = ("text2wave", "flite", "espeak-ng")
needs_tools = pytest.mark.skipif(
    bool(missing_tools(*NEEDED)) and os.environ.get("CI") != "true",
    reason=f"needs the Debian packages {' '.join(missing_tools(*NEEDED))} "
    "(scripts/install-system-deps.sh)",
)


def fake_voices() -> dict[str, list[Voice]]:
    human = [Voice("festival", "kal_diphone", "en", "M"), Voice("flite", "slt", "en", "F")]
    espeak = [Voice("espeak-ng", f"{b}+{v}", "en", "M") for b in ("en-us", "en-gb")
              for v in ("m1", "m2", "f1")]
    return {"festival": human[:1], "flite": human[1:], "espeak-ng": espeak}


def test_speaker_plan_mixes_engines_and_is_seeded():
    plan = plan_speakers(6, seed=1, voices=fake_voices())
    assert [s["id"] for s in plan] == [f"p{225 + i}" for i in range(6)]
    engines = [s["voice"]["engine"] for s in plan]
    assert engines[0] != "espeak-ng" and engines[1] == "espeak-ng"  # interleaved
    assert len({s["voice"]["name"] for s in plan}) == 6  # distinct voices
    assert plan == plan_speakers(6, seed=1, voices=fake_voices())
    assert plan != plan_speakers(6, seed=2, voices=fake_voices())


def test_sentences_vary_and_are_clean():
    rng = np.random.default_rng(0)
    for lang in ("en", "it", "fi"):
        lines = {sentence(rng, lang) for _ in range(50)}
        assert len(lines) >= 45, lang
        for line in lines:
            assert 3 <= len(line.split()) <= 20 and line[-1] in ".?"
            assert clean_text(line) == line
    assert clean_text("-rm $(x) `y`") == "rm x y"


@needs_tools
def test_tiny_build_layout_lengths_and_determinism(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    summary = build_speech(a, seed=3, speakers=3, real_fraction=0.0, utterances=2, workers=1,
                           quiet=True)
    assert summary["utterances"] == 6 and summary["rendered"] == 4
    assert detect_layout(a) == "vctk"
    utts = vctk_utterances(a)
    assert [u.utterance for u in utts] == [f"p{s}_{i:03d}" for s in (225, 226, 227) for i in (1, 2)]
    for u in utts:
        wav, sr = sf.read(u.path, dtype="float32")
        assert sr == 16000 and wav.ndim == 1
        assert 0.8 < len(wav) / sr < 15.0
        assert 0.05 < np.max(np.abs(wav)) <= 0.9 + 1e-6
        assert u.text and len(u.text.split()) >= 3
    info = (a / "speaker-info.txt").read_text().splitlines()
    assert info[0].split()[:3] == ["ID", "AGE", "GENDER"] and len(info) == 4
    assert {line.split()[0] for line in info[1:]} == {"p225", "p226", "p227"}
    # Rebuilding elsewhere gives the same bytes; a second run in place does nothing.
    from sonomorph.cli import main

    assert main(["-q", "corpus", "speech", "--out", str(b), "--seed", "3", "--speakers", "3",
                 "--real-fraction", "0", "--utterances", "2", "-j", "1"]) == 0
    for u in utts:
        rel = u.path.relative_to(a)
        assert (b / rel).read_bytes() == u.path.read_bytes()
    assert (a / "manifest.json").read_bytes() == (b / "manifest.json").read_bytes()
    again = build_speech(a, seed=3, speakers=3, real_fraction=0.0, utterances=2, workers=1,
                         quiet=True)
    assert again["rendered"] == 0 and again["skipped"] == 4


def test_default_build_has_enough_speakers_for_the_30_speaker_protocol():
    import inspect

    from sonomorph.cli import build_parser

    args = build_parser().parse_args(["corpus", "speech"])
    synthetic = args.speakers - round(args.real_fraction * args.speakers)
    assert synthetic >= 30 and args.utterances >= 15  # 9 enrolled + 6 tested each
    params = inspect.signature(build_speech).parameters
    assert (params["speakers"].default, params["real_fraction"].default) == (
        args.speakers, args.real_fraction)
    # The real part: at least 40 speakers with 20 clips each where the library has them.
    assert round(args.real_fraction * args.speakers) >= 40 and args.min_clips >= 20
    plan = plan_speakers(synthetic, seed=0, voices=fake_voices_many(synthetic))
    assert len({s["voice"]["name"] for s in plan}) == synthetic


def fake_voices_many(n: int) -> dict[str, list[Voice]]:
    voices = fake_voices()
    voices["espeak-ng"] = [Voice("espeak-ng", f"{b}+{v}", "en", "M")
                           for b in ("en-us", "en-gb", "en-sc") for v in range(n)]
    return voices


# ----------------------------------------------------------------------------- real part


# speaker -> (split, clips, rate); clip k lasts 0.6 + 0.1 k seconds.
LIBRARY = {"anna": ("train", 5, 22050), "bert": ("train", 5, 8000), "cora": ("valid", 4, 44100),
           "dirk": ("test-real", 4, 22050), "eva": ("test-real", 5, 16000),
           "few": ("train", 2, 22050)}


@pytest.fixture()
def library(tmp_path):
    """A tiny real-audio library in the layout of `corpus sources`: short FLACs under
    speech/<speaker>/ and a manifest.json with a record per file. Each speaker also has
    one 0.3 s clip."""
    import hashlib

    root = tmp_path / "sources"
    files = {}
    for k, (spk, (split, n, rate)) in enumerate(LIBRARY.items()):
        (root / "speech" / spk).mkdir(parents=True)
        for c in range(n + 1):
            seconds = 0.3 if c == n else 0.6 + 0.1 * c
            t = np.arange(int(seconds * rate)) / rate
            wav = 0.4 * np.sin(2 * np.pi * (120 + 30 * k + 5 * c) * t) * np.hanning(t.size)
            rel = f"speech/{spk}/{spk}-{c:02d}.flac"
            sf.write(root / rel, wav.astype(np.float32), rate, subtype="PCM_16")
            files[rel] = {"kind": "speech", "group": spk, "split": split, "duration": seconds,
                          "sample_rate": rate, "channels": 1, "package": f"pkg-{k % 2}",
                          "version": "1.0", "licence": "GPL-2", "member": f"./{spk}/{c}.ogg",
                          "sha256": hashlib.sha256((root / rel).read_bytes()).hexdigest(),
                          "label": {"speaker": spk, "language": "xx"}}
    (root / "manifest.json").write_text(json.dumps({"builder": "sources", "files": files}))
    return root


def real_build(out, library, **kw):
    return build_speech(out, seed=5, speakers=kw.pop("speakers", 5), real_fraction=1.0,
                        library=library, min_clips=3, utterances=3, workers=1, quiet=True, **kw)


def test_real_part_layout_splits_and_determinism(library, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    summary = real_build(a, library)
    assert summary["real"] == 5 and summary["synthetic"] == 0 and summary["note"] is None
    assert summary["splits"] == {"train": 2, "valid": 1, "test-real": 2}
    assert summary["utterances"] == 15  # 3 of each speaker's clips of 0.5 s or more
    assert detect_layout(a) == "vctk"
    ids = {f"r-{s}" for s in LIBRARY if s != "few"}
    assert {u.speaker for u in vctk_utterances(a)} == ids
    for u in vctk_utterances(a):
        info = sf.info(u.path)
        assert info.samplerate == 16000 and info.channels == 1
        assert 0.5 <= info.frames / 16000 <= 1.2  # no 0.3 s clip, lengths kept
    # Splits by speaker, taken from the library; test-real speakers nowhere else.
    from sonomorph.data.corpus.speech import read_splits

    splits = read_splits(a)
    assert splits == {"r-anna": "train", "r-bert": "train", "r-cora": "valid",
                      "r-dirk": "test-real", "r-eva": "test-real"}
    lines = {sp: [x for x in (a / "splits" / f"{sp}.txt").read_text().splitlines()
                  if not x.startswith("#")] for sp in ("train", "valid", "test-real")}
    assert not set(lines["test-real"]) & (set(lines["train"]) | set(lines["valid"]))
    clips = json.loads((a / "real-clips.json").read_text())
    assert len(clips) == 15 and {c["licence"] for c in clips.values()} == {"GPL-2"}
    assert all(c["split"] == splits["r-" + c["speaker"]] for c in clips.values())
    manifest = json.loads((a / "manifest.json").read_text())
    assert {s["id"] for s in manifest["sources"]} == {"real:pkg-0", "real:pkg-1"}
    # The same library and seed give the same bytes elsewhere; a second run does nothing.
    real_build(b, library)
    for rel in manifest["files"]:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert real_build(a, library)["rendered"] == 0


def test_real_fraction_and_shortfall(library, tmp_path):
    from sonomorph.data.corpus.speech import choose_real, real_speakers

    available, left_out = real_speakers(library, min_clips=3)
    assert [s["id"] for s in available] == sorted(f"r-{s}" for s in LIBRARY if s != "few")
    assert left_out == {"speakers_few_clips": 1, "clips_short": len(LIBRARY)}
    three = choose_real(available, 3, seed=0)
    assert len(three) == 3 and {s["split"] for s in three} == {"train", "valid", "test-real"}
    assert three == choose_real(available, 3, seed=0)
    # More real speakers asked for than the library holds: all of them, and a note.
    summary = real_build(tmp_path / "c", library, speakers=8)
    assert summary["real"] == 5 and "8 real speakers asked for" in summary["note"]


def test_missing_library(tmp_path, monkeypatch):
    from sonomorph.errors import ConfigError

    with pytest.raises(ConfigError, match="no real-audio library"):
        build_speech(tmp_path / "x", speakers=2, real_fraction=1.0, library=tmp_path / "none")
    monkeypatch.chdir(tmp_path)  # the default library path, corpora/sources, is not there
    summary = build_speech(tmp_path / "y", speakers=1, real_fraction=1.0, quiet=True)
    assert summary["speakers"] == 0 and "synthetic speakers only" in summary["note"]

"""``corpus speech``: a tiny build has the VCTK layout our loader reads, sane lengths,
transcripts, distinct speakers, and the same bytes when built again."""

from __future__ import annotations

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
    summary = build_speech(a, seed=3, speakers=3, utterances=2, workers=1, quiet=True)
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
                 "--utterances", "2", "-j", "1"]) == 0
    for u in utts:
        rel = u.path.relative_to(a)
        assert (b / rel).read_bytes() == u.path.read_bytes()
    assert (a / "manifest.json").read_bytes() == (b / "manifest.json").read_bytes()
    again = build_speech(a, seed=3, speakers=3, utterances=2, workers=1, quiet=True)
    assert again["rendered"] == 0 and again["skipped"] == 4


def test_default_build_has_enough_speakers_for_the_30_speaker_protocol():
    import inspect

    from sonomorph.cli import build_parser

    args = build_parser().parse_args(["corpus", "speech"])
    assert args.speakers >= 30 and args.utterances >= 15  # 9 enrolled + 6 tested each
    assert inspect.signature(build_speech).parameters["speakers"].default >= 30
    plan = plan_speakers(args.speakers, seed=0, voices=fake_voices_many(args.speakers))
    assert len({s["voice"]["name"] for s in plan}) == args.speakers


def fake_voices_many(n: int) -> dict[str, list[Voice]]:
    voices = fake_voices()
    voices["espeak-ng"] = [Voice("espeak-ng", f"{b}+{v}", "en", "M")
                           for b in ("en-us", "en-gb", "en-sc") for v in range(n)]
    return voices

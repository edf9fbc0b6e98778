"""`sonomorph eval style` on a tiny speech corpus built here.

Each "speaker" is a pure tone of its own frequency and the judge is a stand-in speaker
encoder that reads only which frequency band holds the energy, so the right answers are
known by construction, not from the code under test: an output that *is* the style clip is
closer to the style speaker in every pair, an unchanged content clip in none. The
recogniser stand-in hears the English speaker's words only in that speaker's tone.
Everything is deterministic and runs in a few seconds (no optimiser, no real encoder).
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from sonomorph.cli import main

SR = 16000
REAL = {"r-a": 250.0, "r-b": 700.0, "r-c": 1500.0}  # one band each in the judge below
ENGLISH = ("p900", 3200.0)
TEXT = "the cat sat"
HEARD = "the cat"  # what the recogniser makes of the English speaker: WER 1/3


def _tone(freq: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _corpus(root):
    lines = ["ID  AGE  GENDER  ACCENTS  REGION  COMMENTS"]
    for spk, freq in REAL.items():
        (root / "wav" / spk).mkdir(parents=True)
        for i in range(4):  # 0.6 s each: two make a 1-s transfer clip, two are left over
            sf.write(root / "wav" / spk / f"{spk}_{i + 1:03d}.wav", _tone(freq, 0.6), SR)
        lines.append(f"{spk}  --  -  xx  somegame  real speaker split=test-real")
    spk, freq = ENGLISH
    (root / "wav" / spk).mkdir(parents=True)
    (root / "txt" / spk).mkdir(parents=True)
    for i in range(3):
        sf.write(root / "wav" / spk / f"{spk}_{i + 1:03d}.wav", _tone(freq, 1.2), SR)
        (root / "txt" / spk / f"{spk}_{i + 1:03d}.txt").write_text(TEXT + "\n")
    lines.append(f"{spk}  --  F  en  flite  slt split=train")
    (root / "speaker-info.txt").write_text("\n".join(lines) + "\n")
    (root / "splits").mkdir()
    (root / "splits" / "test-real.txt").write_text("# test\n" + "\n".join(REAL) + "\n")
    (root / "splits" / "train.txt").write_text(f"# train\n{spk}\n")
    return root


def _band(wav: np.ndarray) -> int:
    spec = np.abs(np.fft.rfft(np.asarray(wav, np.float64).reshape(-1)))
    freq = np.argmax(spec) * SR / (2 * (spec.shape[0] - 1))
    return int(np.searchsorted([500.0, 1000.0, 2000.0], freq))


class _Judge:
    """A speaker 'embedding' that is the one-hot of the tone's band."""

    name = "bands"
    sample_rate = SR
    settings: dict = {}

    def __call__(self, wav, path=None):
        v = np.full(4, 0.05, np.float32)
        v[_band(wav)] = 1.0
        return v / np.linalg.norm(v)


class _Transfer:
    """'copy': the output is the style clip (the voice fully moved); 'keep': the content."""

    def __init__(self, kind: str):
        self.kind = kind

    def transfer(self, content, content_sr, style, style_sr, **_):
        src = style if self.kind == "copy" else content
        out = np.resize(src, content.shape[0])[None]
        return SimpleNamespace(audio=out, sample_rate=SR, metrics={})


def _recognise(audio, sr):
    return HEARD if _band(audio) == 3 else "dog"


@pytest.fixture
def fakes(monkeypatch):
    import sonomorph.models.recognizer as recognizer
    import sonomorph.pipelines.speaker_features as features
    import sonomorph.pipelines.style as style

    monkeypatch.setattr(style, "build_transfer",
                        lambda method, **o: _Transfer("copy" if method == "speaker" else "keep"))
    monkeypatch.setattr(features, "make_extractor", lambda *a, **k: _Judge())
    monkeypatch.setattr(features, "feature_versions", lambda ex: {"features": ex.name})
    monkeypatch.setattr(recognizer, "Recognizer", lambda: _recognise)


def test_eval_style_scores_known_answers_through_the_command(tmp_path, fakes, capsys):
    data = _corpus(tmp_path / "speech")
    out = tmp_path / "style.json"
    rc = main(["-q", "eval", "style", "--data", str(data), "--pairs", "3", "--seconds", "1",
               "--wer-pairs", "1", "--method", "random", "--method", "speaker",
               "--json", str(out)])
    assert rc == 0
    r = json.loads(out.read_text())
    rows = r["rows"]
    # 'speaker' (here: the output is the style clip) always lands on the style speaker;
    # 'random' (here: the content unchanged) and the input never do.
    assert (rows["speaker"]["closer"], rows["speaker"]["pairs"]) == (3, 3)
    assert rows["random"]["closer"] == 0 and rows["input"]["closer"] == 0
    assert rows["speaker"]["cos_style"] > 0.99 and rows["input"]["cos_content"] > 0.99
    # Three speakers, three pairs: each is content once and style once, never both.
    pairs = [(p["content"], p["style"]) for p in r["pairs"]]
    assert sorted(c for c, _ in pairs) == sorted(REAL) == sorted(s for _, s in pairs)
    assert all(c != s for c, s in pairs)
    # The transfer clip is the first two clips; the reference the two others, never those.
    for p in r["pairs"]:
        assert p["content_files"] == [f"wav/{p['content']}/{p['content']}_001.wav",
                                      f"wav/{p['content']}/{p['content']}_002.wav"]
        assert p["reference_clips"] == {"content": 2, "style": 2}
    # Words: the input is heard as 'the cat' (WER 1/3); the unchanged output too (1x);
    # the style clip says nothing of it (WER 1, 3x). The source is said honestly.
    assert rows["input"]["wer"] == pytest.approx(1 / 3)
    assert rows["random"]["wer_ratio"] == pytest.approx(1.0)
    assert rows["speaker"]["wer_ratio"] == pytest.approx(3.0)
    assert "synthetic English voices" in r["wer"]["source"]
    assert r["wer"]["pairs"][0]["content"] == ENGLISH[0]
    assert r["wer"]["pairs"][0]["text"] == TEXT
    assert not r["data"].startswith("/")  # results files carry no absolute paths
    assert rows["speaker"]["cpu_s_per_10s"] >= 0 and rows["speaker"]["wall_s_per_10s"] >= 0
    assert r["judge"] == {"features": "bands"}


def test_eval_style_pairs_are_seeded(tmp_path, fakes):
    from sonomorph.eval.style import evaluate_style

    data = _corpus(tmp_path / "speech")
    kw = dict(methods=("random",), pairs=2, seconds=1.0, wer_pairs=0)
    a = [(p["content"], p["style"]) for p in evaluate_style(data, seed=1, **kw)["pairs"]]
    b = [(p["content"], p["style"]) for p in evaluate_style(data, seed=1, **kw)["pairs"]]
    assert a == b and len(a) == 2


def test_eval_style_bad_input_is_one_line_and_status_2(tmp_path, fakes, capsys):
    data = _corpus(tmp_path / "speech")
    rc = main(["eval", "style", "--data", str(data), "--split", "valid"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert rc == 2 and len(err) == 1 and err[0].startswith("sonomorph: error:"), err
    assert "valid split has 0 speakers" in err[0]
    rc = main(["eval", "style", "--data", str(data), "--method", "random", "--model", "x"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert rc == 2 and len(err) == 1 and "--method speaker" in err[0], err


def _six_clip_corpus(root, silent_first: bool = False):
    """Each real speaker with six 0.6-s clips (the first silent with ``silent_first``)."""
    lines = ["ID  AGE  GENDER  ACCENTS  REGION  COMMENTS"]
    for spk, freq in REAL.items():
        (root / "wav" / spk).mkdir(parents=True)
        for i in range(6):
            wav = _tone(freq, 0.6) * (0.0 if silent_first and i == 0 else 1.0)
            sf.write(root / "wav" / spk / f"{spk}_{i + 1:03d}.wav", wav, SR)
        lines.append(f"{spk}  --  -  xx  somegame  real speaker split=test-real")
    (root / "speaker-info.txt").write_text("\n".join(lines) + "\n")
    (root / "splits").mkdir()
    (root / "splits" / "test-real.txt").write_text("# test\n" + "\n".join(REAL) + "\n")
    return root


def test_eval_style_style_seconds_gives_more_of_the_style_speaker_never_its_reference(
        tmp_path, fakes):
    """With ``style_seconds`` a method is shown the style speaker's front clips joined up to
    that length, never the clips its judging reference is made of; without it, the
    transfer clip (what the protocol was before)."""
    from sonomorph.eval.style import evaluate_style

    root = _six_clip_corpus(tmp_path / "speech")
    shown: list[int] = []

    class Seen:
        def transfer(self, content, content_sr, style, style_sr, **_):
            shown.append(style.shape[0])
            return SimpleNamespace(audio=content[None], sample_rate=SR, metrics={})

    kw = dict(methods=("random",), pairs=3, seconds=0.5, reference_clips=2, wer_pairs=0,
              transfers={"random": Seen()})
    r = evaluate_style(root, style_seconds=2.0, **kw)
    gap = int(0.2 * SR)
    # 0.6 + 0.2 + 0.6 + 0.2 + 0.6 = 2.2 s >= 2 s: the first three clips, with two gaps.
    assert shown == [3 * int(0.6 * SR) + 2 * gap] * 3
    for p in r["pairs"]:
        s = p["style"]
        assert p["style_files"] == [f"wav/{s}/{s}_00{i}.wav" for i in (1, 2, 3)]
        assert p["style_seconds"] == pytest.approx(2.2, abs=1e-3)
        assert p["content_files"] == [f"wav/{p['content']}/{p['content']}_001.wav"]
        assert p["reference_clips"] == {"content": 2, "style": 2}  # clips 6 and 5
    assert r["style_seconds"] == 2.0 and "2 s of the style speaker" in r["protocol"]

    shown.clear()  # asking for more than there is: every clip but the reference ones
    r = evaluate_style(root, style_seconds=60.0, **kw)
    assert shown == [4 * int(0.6 * SR) + 3 * gap] * 3
    assert [len(p["style_files"]) for p in r["pairs"]] == [4, 4, 4]

    shown.clear()  # the default: the style speaker's transfer clip, as before
    r = evaluate_style(root, **kw)
    assert shown == [int(0.6 * SR)] * 3
    assert r["style_seconds"] is None and "transfer clip" in r["protocol"]


def test_eval_style_style_seconds_counts_a_skipped_clip_once(tmp_path, fakes):
    """A silent clip at the front is skipped by the transfer clip and left out of the style
    material without being counted a second time."""
    from sonomorph.eval.style import evaluate_style

    root = _six_clip_corpus(tmp_path / "speech", silent_first=True)
    kw = dict(methods=("random",), pairs=3, seconds=0.5, reference_clips=2, wer_pairs=0)
    plain = evaluate_style(root, **kw)
    more = evaluate_style(root, style_seconds=2.0, **kw)
    assert sum(plain["skipped"].values()) == 3  # one silent clip per speaker
    assert more["skipped"] == plain["skipped"]
    for p in more["pairs"]:
        s = p["style"]
        assert p["style_files"] == [f"wav/{s}/{s}_00{i}.wav" for i in (2, 3, 4)]

"""The word error rate and the clips with known text (sonomorph.models.recognizer), below
the evaluation so that training's validation can use them too; the evaluation's names still
work. Expected rates are counted by hand."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from sonomorph.models.recognizer import clip_text, text_clips, with_text, word_error_rate


@pytest.mark.parametrize("reference, hypothesis, expected", [
    ("a b c d", "a x c", 2 / 4),           # b -> x substituted, d deleted
    ("a b c d", "a b c d", 0.0),
    ("a b", "a b c d", 2 / 2),             # two insertions
    ("The dog, sat down.", "the DOG sat down", 0.0),  # case and punctuation do not count
    ("one two three", "", 3 / 3),          # everything deleted
    ("", "", 0.0),
    ("", "noise", 1.0),
])
def test_word_error_rate_of_hand_counted_pairs(reference, hypothesis, expected):
    assert word_error_rate(reference, hypothesis) == pytest.approx(expected)


def test_the_evaluation_names_are_the_same_objects():
    from sonomorph.eval import scream
    from sonomorph.models import recognizer

    assert scream.word_error_rate is recognizer.word_error_rate
    assert scream.Recognizer is recognizer.Recognizer


def test_clips_with_known_text_are_those_with_a_stem_txt(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("a-001.wav", "a-002.wav", "sub/b-001.wav"):
        sf.write(tmp_path / name, np.zeros(2205, np.float32), 22050)
    (tmp_path / "a-001.txt").write_text("Hello there.\n", encoding="utf-8")
    (tmp_path / "sub" / "b-001.txt").write_text("Good bye.", encoding="utf-8")
    (tmp_path / "c-001.txt").write_text("no audio beside me", encoding="utf-8")
    found = text_clips(tmp_path)
    assert found == [tmp_path / "a-001.wav", tmp_path / "sub" / "b-001.wav"]
    assert with_text([tmp_path / "a-002.wav", tmp_path / "a-001.wav"]) == [tmp_path / "a-001.wav"]
    assert clip_text(found[0]) == "Hello there.\n"

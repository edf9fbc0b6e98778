"""Evaluation: separation metrics (:mod:`.metrics`), DSP and oracle baselines
(:mod:`.baselines`) and a benchmark harness for speed and memory (:mod:`.bench`).

Submodules are imported on demand; importing this package pulls in nothing heavy.
"""

"""Evaluation metrics: BSSEval v4 SDR, SI-SDR, a stem's level and ROC AUC.

They are defined in :mod:`sonomorph.models.metrics` (training scores its validation with
them too, and training may not import the evaluation layer); this module re-exports them
for the evaluation code and for users.
"""

from __future__ import annotations

from sonomorph.models.metrics import (
    ROTATION_DEGREES,
    bss_eval_v4,
    level_db,
    median_over_tracks,
    museval_metrics,
    roc_auc,
    score_track,
    si_sdr,
    track_scores,
)

__all__ = ["bss_eval_v4", "si_sdr", "level_db", "track_scores", "score_track", "ROTATION_DEGREES",
           "median_over_tracks", "museval_metrics", "roc_auc"]

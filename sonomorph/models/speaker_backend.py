"""A speaker back-end: a fixed linear clean-up of speaker embeddings before they are compared.

Input: speaker embeddings ``(batch, dim)`` (resemblyzer's 256-d unit vectors for the
``adapted`` features of :mod:`sonomorph.pipelines.speaker_features`); output: unit vectors
``(batch, dim)`` compared by cosine similarity, like the input.

The maths. With ``unit(v) = v / |v|`` applied to each row,

    y = unit(unit(x - mean) @ P),    P = I - U U^T

* ``mean`` ``(dim,)``: the mean of the embeddings the back-end was fitted on. Every
  embedding of a corpus shares a large common part (the recording chain, the language, the
  encoder's own bias); taking it away leaves what differs between clips.
* ``U`` ``(dim, remove)``, the buffer ``basis``: the top ``remove`` eigenvectors (largest
  eigenvalues) of the uncentred second-moment matrix ``Z^T Z`` of the centred, normalised
  fitting embeddings ``Z = unit(X - mean)``. After centring, the directions along which all
  clips vary most, whoever speaks, are nuisance (channel, domain) rather than identity;
  ``P`` projects them out. ``remove = 0`` keeps only the centring.

:func:`fit_backend` computes both in float64 from the fitting embeddings (no labels: the
second moment is over all clips, not within speakers) and stores them as float32 buffers.
The eigenvectors' signs, which ``P`` does not depend on, are fixed (each one's
largest-magnitude component positive) so that one input always gives identical buffers.
A vector equal to ``mean`` has no direction: it comes out as zeros.

The back-end is fitted, not trained by gradient: ``sonomorph train speaker-backend``
(:mod:`sonomorph.train.recipes.speaker_backend`) fits it on a speech corpus's train
speakers and writes a ``speaker-backend`` model file.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sonomorph.models.registry import register_model

__all__ = ["SpeakerBackend", "fit_backend"]


@register_model("speaker_backend", kind="speaker-backend")
class SpeakerBackend(nn.Module):
    """Centre, normalise, project out ``remove`` nuisance directions, normalise (see the
    module docstring). The buffers start as a zero mean and a zero basis: an unfitted
    back-end only normalises."""

    def __init__(self, dim: int = 256, remove: int = 1) -> None:
        super().__init__()
        dim, remove = int(dim), int(remove)
        if dim < 2 or not 0 <= remove < dim:
            raise ValueError(f"a speaker back-end needs dim >= 2 and 0 <= remove < dim, got "
                             f"dim {dim}, remove {remove}")
        self.dim, self.remove = dim, remove
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("basis", torch.zeros(dim, remove))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"expected embeddings (batch, {self.dim}), got {tuple(x.shape)}")
        dtype = x.dtype if x.is_floating_point() else torch.float32
        y = F.normalize(x.to(self.mean.dtype) - self.mean, dim=1, eps=1e-12)
        y = y - (y @ self.basis) @ self.basis.T  # y @ (I - U U^T), U orthonormal
        return F.normalize(y, dim=1, eps=1e-12).to(dtype)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def fit_backend(vectors: np.ndarray | Tensor, remove: int = 1) -> SpeakerBackend:
    """A :class:`SpeakerBackend` fitted on ``vectors`` ``(N, dim)`` (see the module
    docstring), in eval mode. Deterministic: the same vectors give identical buffers.
    ValueError for fewer than 2 vectors, non-finite values or ``remove`` outside
    ``[0, dim)``. Its ``nuisance_share`` attribute lists the share of the centred,
    normalised vectors' energy along each removed direction."""
    if isinstance(vectors, Tensor):
        vectors = vectors.detach().cpu().numpy()
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"fitting a speaker back-end needs at least 2 vectors (N, dim), got "
                         f"shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("the vectors to fit a speaker back-end on hold NaN or infinite values")
    backend = SpeakerBackend(dim=x.shape[1], remove=remove)
    mean = x.mean(axis=0)
    z = _unit_rows(x - mean)
    vals, vecs = np.linalg.eigh(z.T @ z)  # eigenvalues ascending
    basis = vecs[:, ::-1][:, : backend.remove].copy()
    # An eigenvalue of Z^T Z is the energy of Z along its eigenvector; their sum, Z's energy.
    backend.nuisance_share = [float(v) for v in vals[::-1][: backend.remove]
                              / max(float(vals.sum()), 1e-12)]
    for j in range(basis.shape[1]):  # fix the sign: largest-magnitude component positive
        if basis[np.argmax(np.abs(basis[:, j])), j] < 0:
            basis[:, j] = -basis[:, j]
    with torch.no_grad():
        backend.mean.copy_(torch.from_numpy(mean))
        backend.basis.copy_(torch.from_numpy(basis))
    return backend.eval()

"""Training losses. Every loss in sonomorph is a documented ``nn.Module`` in this file.

Rules for adding one:

* a class, not a function, so that its settings (weights, FFT sizes, filterbanks held as
  buffers) are fixed at construction and it moves with ``.to(device)``;
* a docstring saying what it computes, on which shapes (audio ``(batch, channels,
  samples)``), and why it is used (with a reference when it comes from a paper);
* ``forward`` returns a scalar tensor (or a dict of named scalar terms the task logs);
* nothing tied to one model here: a loss is shared by whichever tasks need it, and model
  modules import it from here instead of defining their own copy.

Losses that need float32 maths (STFT magnitudes, logs) should run under the training
step's ``ctx.fp32()`` when bf16/fp16 training is on.
"""

from __future__ import annotations

__all__: list[str] = []

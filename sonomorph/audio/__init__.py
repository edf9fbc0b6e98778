"""Audio on arrays and on disk: file I/O (:mod:`.io`), spectral transforms
(:mod:`.spectral`), silence removal (:mod:`.silence`), DSP effects.

Only the file functions are re-exported here; they need numpy, soundfile and soxr but not
torch or librosa, so ``import sonomorph.audio`` stays quick. Import the other modules
by name (``from sonomorph.audio.spectral import STFT``).
"""

from sonomorph.audio.io import (
    AUDIO_EXTENSIONS,
    AudioInfo,
    find_audio_files,
    info,
    iter_blocks,
    load,
    mix_channels,
    output_path_for,
    resample,
    save,
    writable_suffix,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioInfo",
    "find_audio_files",
    "info",
    "iter_blocks",
    "load",
    "mix_channels",
    "output_path_for",
    "resample",
    "save",
    "writable_suffix",
]

"""sonomorph: transform audio with neural networks.

Five capabilities share one base: karaoke separation, voice-to-scream, vocals-to-song,
style transfer, and analysis (genre and speaker). The public Python API lives in
:mod:`sonomorph.pipelines`; the command line in :mod:`sonomorph.cli`.
"""

__version__ = "0.1.0"

from sonomorph.errors import (  # noqa: E402
    AudioLoadError,
    AudioSaveError,
    CheckpointError,
    InputTooShortError,
    OutputExistsError,
    SonomorphError,
)

__all__ = [
    "__version__",
    "SonomorphError",
    "AudioLoadError",
    "AudioSaveError",
    "InputTooShortError",
    "OutputExistsError",
    "CheckpointError",
]

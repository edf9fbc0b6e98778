"""The error types sonomorph raises on purpose.

Every error a user can cause (a bad file, a bad argument, a checkpoint we refuse) is a
:class:`SonomorphError`. Its message is one line that names the file and the problem;
the CLI prints it and exits with status 2. Anything else escaping is a bug.
"""

from __future__ import annotations

import os


def printable_path(path: str | os.PathLike) -> str:
    """A path as it is shown in a message: characters that cannot be printed on one line
    (a newline, a tab, undecodable bytes) are shown escaped (``\\n``, ``\\udcff``)."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)


class SonomorphError(Exception):
    """Base class: an error caused by the input, with a one-line message."""

    def __init__(self, message: str, path: str | os.PathLike | None = None):
        self.path = None if path is None else os.fspath(path)
        self.reason = message
        super().__init__(f"{printable_path(self.path)}: {message}" if self.path is not None
                         else message)


class AudioLoadError(SonomorphError):
    """A file could not be read as audio (missing, empty, corrupt, not audio, NaN...)."""


class InputTooShortError(AudioLoadError):
    """The audio is readable but shorter than the model or algorithm needs."""


class AudioSaveError(SonomorphError):
    """An output could not be written."""


class OutputExistsError(AudioSaveError):
    """The output exists (and overwriting was not asked for) or would replace an input."""


class CheckpointError(SonomorphError):
    """A model or training checkpoint is missing, corrupt, unsafe or of the wrong shape."""


class ConfigError(SonomorphError):
    """A configuration file or argument has a bad value."""


class DependencyError(SonomorphError):
    """A system program or optional package that this command needs is not installed."""

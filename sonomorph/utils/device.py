"""Which device the models run on: the one definition the command line, the web UI and the
benchmarks share.

``cpu``, ``cuda`` or ``auto`` (CUDA when torch sees a GPU, else the CPU). Asking for CUDA
where torch has none is a :class:`~sonomorph.errors.ConfigError` of one line that says what
to do; torch is imported only when a GPU could be meant.
"""

from __future__ import annotations

from sonomorph.errors import ConfigError

__all__ = ["DEVICES", "resolve_device", "device_name"]

#: The choices of every ``--device`` option.
DEVICES = ("cpu", "cuda", "auto")


def resolve_device(spec: str | None) -> str:
    """``cpu``, ``cuda`` or ``auto`` (CUDA when available) -> ``"cpu"`` or ``"cuda"``.
    Asking for CUDA where torch has none is a one-line error saying what to do."""
    if spec in (None, "cpu"):
        return "cpu"
    if spec not in DEVICES:
        raise ConfigError(f"unknown device {spec!r} (choose from {', '.join(DEVICES)})")
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if spec == "auto":
        return "cpu"
    why = ("this torch has no CUDA support (a CPU build)" if torch.version.cuda is None
           else "no CUDA GPU is visible")
    raise ConfigError(f"--device cuda: {why}; install the CUDA build of torch (see "
                      "docs/cli.md, \"GPU\") or use --device cpu")


def device_name(device: str) -> str:
    """What a results file records about a resolved device: the GPU's name for ``cuda``,
    the processor for ``cpu``."""
    if device == "cuda":
        import torch

        return str(torch.cuda.get_device_name(0))
    import platform

    return platform.processor() or platform.machine()

"""Put an ffmpeg binary on the virtual environment's PATH.

The system's ffmpeg wins when present; otherwise the binary that ships inside the
imageio-ffmpeg wheel is linked as ``.venv/bin/ffmpeg`` (museval's stempeg import and
our own loader both look for ``ffmpeg``).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def main() -> int:
    bindir = Path(sys.executable).parent
    target = bindir / "ffmpeg"
    if shutil.which("ffmpeg", path=os.environ.get("PATH", "")) and not target.exists():
        return 0
    try:
        import imageio_ffmpeg
    except ImportError:
        print("imageio-ffmpeg is not installed; no ffmpeg linked", file=sys.stderr)
        return 0
    source = Path(imageio_ffmpeg.get_ffmpeg_exe())
    if target.is_symlink() or target.exists():
        target.unlink()
    target.symlink_to(source)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

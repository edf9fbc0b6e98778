"""Byte-level checks on audio files that libsndfile does not make for us.

* :func:`wav_truncation`: libsndfile silently reads whatever part of a truncated WAV is
  there; we compare the data chunk's declared size with the file's size and refuse it.
* :func:`looks_like_mpeg`: libsndfile's mpg123 may accept bytes that are not MPEG audio
  (random data named ``.mp3`` decoded as a blip of noise); we look for a chain of valid,
  consecutive MPEG audio frame headers, which every real mp3 has and random bytes almost
  never do.
"""

from __future__ import annotations

import struct
from pathlib import Path


def wav_truncation(path: Path) -> str | None:
    """For a RIFF/WAVE file whose data chunk claims more bytes than the file holds, a
    sentence saying so; else None. (libsndfile silently reads what is there.)"""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        pos, align, rate = 12, 0, 0
        while pos + 8 <= size:
            f.seek(pos)
            cid, csize = struct.unpack("<4sI", f.read(8))
            if cid == b"fmt ":
                fmt = f.read(min(csize, 16))
                if len(fmt) >= 14:
                    _, _, rate, _, align = struct.unpack("<HHIIH", fmt[:14])
            elif cid == b"data":
                if csize in (0, 0xFFFFFFFF):  # streamed writers leave the size unset
                    return None
                missing = pos + 8 + csize - size
                if missing >= max(align, 2):
                    if rate and align:
                        return (f"truncated WAV: the header declares {csize / align / rate:.2f} s"
                                f" of audio, the file holds {(size - pos - 8) / align / rate:.2f} s")
                    return "truncated WAV: the file is shorter than its header declares"
                return None
            pos += 8 + csize + (csize & 1)
    return None


_MPEG_KBPS = {
    (True, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_frame_length(b: bytes) -> int | None:
    """Length in bytes of the MPEG audio frame whose 4-byte header is ``b`` (None if not one)."""
    if len(b) < 4 or b[0] != 0xFF or (b[1] & 0xE0) != 0xE0:
        return None
    version, layer_bits = (b[1] >> 3) & 3, (b[1] >> 1) & 3
    br_idx, sr_idx, pad = b[2] >> 4, (b[2] >> 2) & 3, (b[2] >> 1) & 1
    if version == 1 or layer_bits == 0 or br_idx in (0, 15) or sr_idx == 3:
        return None
    layer, mpeg1 = 4 - layer_bits, version == 3
    bitrate = _MPEG_KBPS[(mpeg1, min(layer, 2) if not mpeg1 else layer)][br_idx - 1] * 1000
    rate = _MPEG_RATES[version][sr_idx]
    if layer == 1:
        return (12 * bitrate // rate + pad) * 4
    return (72 if layer == 3 and not mpeg1 else 144) * bitrate // rate + pad


def looks_like_mpeg(path: Path) -> bool:
    """True when, after any ID3v2 tags, three consecutive valid MPEG audio frame headers
    follow each other (or the chain reaches the end of the file). Random bytes pass this
    with a probability of about one in a million; real mp3 files always do."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        start = 0
        while True:  # skip (possibly several) ID3v2 tags, which may hold cover art
            f.seek(start)
            tag = f.read(10)
            if len(tag) < 10 or tag[:3] != b"ID3":
                break
            length = (tag[6] & 0x7F) << 21 | (tag[7] & 0x7F) << 14 | (tag[8] & 0x7F) << 7 | (
                tag[9] & 0x7F)
            start += 10 + length + (10 if tag[5] & 0x10 else 0)
        f.seek(start)
        buf = f.read(1 << 18)
    remaining = size - start
    i = buf.find(b"\xff")
    while 0 <= i < len(buf) - 3:
        pos, hops = i, 0
        while True:
            n = _mpeg_frame_length(buf[pos:pos + 4])
            if n is None:
                break
            pos, hops = pos + n, hops + 1
            if hops >= 3 or (hops >= 2 and (pos >= remaining - 128 or pos + 4 > len(buf))):
                return True
            if pos >= remaining or pos + 4 > len(buf):
                break
        i = buf.find(b"\xff", i + 1)
    return False

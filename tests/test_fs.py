"""Atomic outputs: sonomorph.utils.fs."""

import os
import stat

import pytest

from sonomorph.errors import OutputExistsError
from sonomorph.utils.fs import TMP_PREFIX, atomic_path, atomic_write_text


def test_atomic_write_gets_umask_permissions(tmp_path):
    path = atomic_write_text(tmp_path / "out.txt", "hello")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    mask = os.umask(0)
    os.umask(mask)
    assert mode == 0o666 & ~mask
    assert path.read_text() == "hello"


def test_failure_leaves_neither_target_nor_temp(tmp_path):
    target = tmp_path / "out.wav"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("boom")
    assert not target.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TMP_PREFIX)]


def test_refuses_existing_output_and_input(tmp_path):
    existing = tmp_path / "a.txt"
    existing.write_text("keep")
    with pytest.raises(OutputExistsError, match="exists"):
        atomic_write_text(existing, "new")
    with pytest.raises(OutputExistsError, match="input"):
        with atomic_path(existing, overwrite=True, inputs=[existing]):
            pass
    assert existing.read_text() == "keep"
    atomic_write_text(existing, "new", overwrite=True)
    assert existing.read_text() == "new"


def test_interrupt_leaves_the_previous_output_whole(tmp_path):
    target = tmp_path / "out.wav"
    target.write_bytes(b"previous")
    with pytest.raises(KeyboardInterrupt), atomic_path(target, overwrite=True) as tmp:
        tmp.write_bytes(b"half of the new")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def test_an_output_made_meanwhile_is_not_replaced(tmp_path):
    """Two jobs writing the same output: the one that finishes second does not clobber
    the first one's file unless overwriting was asked for."""
    target = tmp_path / "out.txt"
    with pytest.raises(OutputExistsError), atomic_path(target) as tmp:
        tmp.write_text("second")
        target.write_text("first")  # another job finished meanwhile
    assert target.read_text() == "first"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TMP_PREFIX)]


def test_nothing_written_is_an_error_not_an_empty_output(tmp_path):
    target = tmp_path / "out.wav"
    with pytest.raises(OSError, match="nothing was written"), atomic_path(target):
        pass
    assert not target.exists() and list(tmp_path.iterdir()) == []

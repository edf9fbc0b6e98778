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

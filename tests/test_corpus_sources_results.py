"""scripts/corpus_sources_results.py: the split figures come from the library's manifest, and
--merge keeps the figures a later run cannot measure (build times, byte-identity check)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import corpus_sources_results as csr  # noqa: E402


def _library(tmp_path: Path) -> Path:
    """A two-character scream library: 'a' (3 clips, 90 s) in train, 'b' (1 clip, 30 s) in
    test-real."""
    lib = tmp_path / "lib"
    (lib / "screams" / "a").mkdir(parents=True)
    (lib / "screams" / "a" / "1.flac").write_bytes(b"x" * 1000)
    split = {"files": 0, "groups": 0, "seconds": 0.0}
    manifest = {
        "policy": {"min_seconds": 0.3}, "packages": {"p": {"version": "1"}}, "missing": {},
        "files": {},
        "groups": {"screams": {"a": {"split": "train", "clips": 3}, "b": {"split": "test-real", "clips": 1}}},
        "summary": {"screams": {
            "files": 4, "groups": 2, "seconds": 120.0, "skipped": {"short": 1},
            "splits": {"train": {"files": 3, "groups": 1, "seconds": 90.0}, "valid": dict(split),
                       "test-real": {"files": 1, "groups": 1, "seconds": 30.0}}}},
    }
    (lib / "manifest.json").write_text(json.dumps(manifest))
    return lib


OLD = {
    "builds": [{"log": "logs/gone.log", "wall_seconds": 544, "cpu_seconds": 374}],
    "determinism": {"byte_identical": 7, "files_at_the_same_path": 7, "paths_only_in_one_build": 0},
    "machine": "the old machine",
    "disk_gib": {"library": 9.99, "debs": 2.54, "largest_temporary": 3.04},
    "largest_temporary": {"package": "0ad-data"},
    "categories": {"screams": {"files": 99, "splits": {"train": {"files": 98}}}},
}


def test_merge_refreshes_the_splits_and_keeps_what_it_cannot_measure(tmp_path) -> None:
    lib = _library(tmp_path)
    out = tmp_path / "corpus-sources.json"
    out.write_text(json.dumps(OLD))
    assert csr.main(["--library", str(lib), "--out", str(out), "--merge", "--note", "splits redrawn"]) == 0
    got = json.loads(out.read_text())
    screams = got["categories"]["screams"]
    assert screams["files"] == 4 and screams["minutes"] == 2.0 and screams["characters"] == 2
    assert screams["splits"]["train"] == {"files": 3, "minutes": 1.5, "characters": 1}
    assert screams["splits"]["test-real"] == {"files": 1, "minutes": 0.5, "characters": 1}
    assert screams["held_out"] == {"valid": [], "test-real": ["b"]}
    assert got["builds"] == OLD["builds"] and got["determinism"] == OLD["determinism"]
    assert got["machine"] == "the old machine" and got["largest_temporary"] == {"package": "0ad-data"}
    assert got["disk_gib"]["debs"] == 2.54 and got["disk_gib"]["largest_temporary"] == 3.04
    assert got["disk_gib"]["library"] != 9.99  # measured again on the new library
    prov = got["provenance"]
    assert prov["note"] == "splits redrawn"
    assert set(prov["kept_from_previous_file"]) == {
        "builds", "determinism", "machine", "largest_temporary", "disk_gib.debs", "disk_gib.largest_temporary"}
    assert "categories" in prov["measured_now"] and "builds" not in prov["measured_now"]


def test_without_merge_the_file_holds_only_what_was_measured(tmp_path) -> None:
    lib = _library(tmp_path)
    out = tmp_path / "corpus-sources.json"
    out.write_text(json.dumps(OLD))
    assert csr.main(["--library", str(lib), "--out", str(out)]) == 0
    got = json.loads(out.read_text())
    assert "builds" not in got and "determinism" not in got and "provenance" not in got
    assert got["categories"]["screams"]["files"] == 4


def test_bad_input_is_exit_2_and_leaves_the_file_alone(tmp_path, capsys) -> None:
    out = tmp_path / "corpus-sources.json"
    out.write_text(json.dumps(OLD))
    assert csr.main(["--library", str(tmp_path / "nowhere"), "--out", str(out), "--merge"]) == 2
    assert json.loads(out.read_text()) == OLD
    lib = _library(tmp_path)
    assert csr.main(["--library", str(lib), "--out", str(tmp_path / "absent.json"), "--merge"]) == 2
    assert not (tmp_path / "absent.json").exists()
    assert csr.main(["--library", str(lib), "--out", str(out), "--note", "x"]) == 2
    assert json.loads(out.read_text()) == OLD
    err = capsys.readouterr().err
    assert err.count("error:") == 3 and "Traceback" not in err

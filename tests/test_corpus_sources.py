"""The real-recordings library (`corpus sources`): fetch and extraction on tiny Debian
packages built here with dpkg-deb (nothing is downloaded), labels and hygiene, manifest
and licences, splits by source, determinism, resume, missing packages and apt lists."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sonomorph.data.corpus import sources, sources_debs, sources_splits
from sonomorph.data.corpus.sources import DiskSpaceError, build_sources
from sonomorph.data.corpus.sources_library import group_records, load_library
from sonomorph.errors import ConfigError, DependencyError

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian)")

VERSION = "9.9-test"


def _wav(seconds: float, rate: int = 16000, freq: float = 220.0, channels: int = 1,
         amp: float = 0.3, fmt: str = "WAV") -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    x = amp * np.sin(2 * np.pi * freq * t).astype(np.float32)
    data = np.stack([x] * channels, axis=1)
    buf = io.BytesIO()
    sf.write(buf, data, rate, format=fmt, subtype="PCM_16" if fmt == "WAV" else None)
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in sorted(members.items()):
            z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def _deb(debs: Path, package: str, files: dict[str, bytes]) -> Path:
    root = debs.parent / "roots" / package
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: {VERSION}\nArchitecture: all\n"
        "Maintainer: test <test@example.org>\nDescription: tiny test package\n")
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    debs.mkdir(exist_ok=True)
    out = debs / f"{package}_{VERSION}_all.deb"
    subprocess.run(["dpkg-deb", "-Zgzip", "--root-owner-group", "--build", str(root), str(out)],
                   check=True, capture_output=True)
    shutil.rmtree(root)
    return out


# Three speakers with 5 clips each in KLettres (a test, a valid and a train speaker, with
# the least clip counts for a held-out group lowered to keep the test fast); OpenArena
# characters in a pk3 (with a too-short, a silent and a synthetic clip); music from
# Singularity (trains) and OpenArena 0.8.8 (held out).
PACKAGES = ["openarena-data", "openarena-088-data", "singularity-music", "klettres-data"]
CLIPS = 5


@pytest.fixture(scope="module", autouse=True)
def _small_groups():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sources_splits, "MIN_SPEAKER_CLIPS", CLIPS)
        mp.setattr(sources_splits, "MIN_CHARACTER_CLIPS", CLIPS - 1)
        yield


@pytest.fixture(scope="module")
def debs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("pkgs") / "debs"
    player = {}
    for i, character in enumerate(["alpha", "beta", "gamma"]):
        for j in range(CLIPS - 1):
            player[f"sound/player/{character}/pain{j}.wav"] = _wav(0.4, 22050, 200 + 40 * i + 5 * j)
    player["sound/player/alpha/jump.wav"] = _wav(0.1, 22050)            # too short
    player["sound/player/beta/gasp.wav"] = _wav(0.5, 22050, amp=0.0)    # silent
    player["sound/player/footsteps/step1.wav"] = _wav(0.4, 22050)        # not a character
    _deb(d, "openarena-data", {
        "usr/share/games/openarena/baseoa/pak0.pk3": _zip(player),
        "usr/share/games/openarena/missionpack/mp-pak0.pk3": _zip(
            {"sound/voices/festivoxmale/hello.wav": _wav(0.8, 16000, 300)}),  # synthetic
        "usr/share/doc/openarena-data/copyright": b"GPL-2+\n",
    })
    _deb(d, "openarena-088-data", {
        "usr/share/games/openarena/baseoa/pak6-patch088.pk3": _zip(
            {"music/OA01.ogg": _wav(1.2, 32000, 330, channels=2, fmt="OGG"),
             "sound/player/alpha/pain0.wav": _wav(0.45, 22050, 999)}),  # the patch replaces it
    })
    _deb(d, "singularity-music", {
        "usr/share/games/singularity/music/Awakening.ogg": _wav(1.0, 48000, 440, channels=2, fmt="OGG"),
        "usr/share/games/singularity/music/win/Apex Two.ogg": _wav(0.9, 22050, 550, fmt="OGG"),
    })
    letters = {}
    for lang in ("cs", "de", "fr"):
        for j in range(CLIPS):
            letters[f"usr/share/klettres/{lang}/alpha/L{j}.wav"] = _wav(0.35, 8000, 180 + 10 * j + 3 * len(letters))
    _deb(d, "klettres-data", letters)
    return d


@pytest.fixture(scope="module")
def library(tmp_path_factory, debs) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("lib") / "sources"
    lines: list[str] = []
    summary = build_sources(out, debs_dir=debs, packages=PACKAGES, workers=1, quiet=True,
                            report=lines.append)
    assert lines == []
    return out, summary


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".done" not in p.parts}


def test_layout_labels_and_hygiene(library):
    out, summary = library
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.flac"))
    assert "music/singularity/Awakening.flac" in files
    assert "music/singularity/Apex_Two.flac" in files
    assert "music/openarena/OA01.flac" in files
    assert {f.split("/")[1] for f in files if f.startswith("screams/")} == {"alpha", "beta", "gamma"}
    assert {f.split("/")[1] for f in files if f.startswith("speech/")} == {
        "klettres-cs", "klettres-de", "klettres-fr"}
    # hygiene: no synthetic voice, no footsteps, the short and the silent clip skipped
    assert not any("festivox" in f or "hello" in f or "footsteps" in f for f in files)
    assert "screams/alpha/jump.flac" not in files and "screams/beta/gasp.flac" not in files
    skipped = summary["summary"]["screams"]["skipped"]
    assert skipped == {"short": 1, "silent": 1, "synthetic": 1}
    assert summary["summary"]["screams"]["files"] == 3 * (CLIPS - 1)
    assert summary["summary"]["speech"]["files"] == 3 * CLIPS
    # formats: music 44.1 kHz stereo; speech and screams mono at their own rate
    for rel, rate, channels in (("music/singularity/Awakening.flac", 44100, 2),
                                ("music/singularity/Apex_Two.flac", 44100, 2),
                                ("speech/klettres-cs/alpha-L0.flac", 8000, 1),
                                ("screams/gamma/pain0.flac", 22050, 1)):
        info = sf.info(out / rel)
        assert (info.samplerate, info.channels, info.format) == (rate, channels, "FLAC"), rel
    # the 0.8.8 patch's clip replaced the base package's clip of the same name
    rec = {r.rel: r for r in load_library(out)}["screams/alpha/pain0.flac"]
    assert rec.package == "openarena-088-data"
    assert rec.member.endswith("pak6-patch088.pk3!sound/player/alpha/pain0.wav")


def test_manifest_records_are_complete(library):
    out, _ = library
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["packages"]) == set(PACKAGES)
    for name, info in manifest["packages"].items():
        assert info["version"] == VERSION and info["licence"], name
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*.flac")}
    assert set(manifest["files"]) == on_disk
    for rel, r in manifest["files"].items():
        assert r["package"] in PACKAGES and r["version"] == VERSION and r["licence"]
        assert r["member"].startswith("./usr/share/")
        assert r["sha256"] == hashlib.sha256((out / rel).read_bytes()).hexdigest()
        assert r["duration"] == pytest.approx(sf.info(out / rel).duration, abs=1e-3)
        assert r["split"] in ("train", "valid", "test-real")
        key = {"music": "source", "speech": "speaker", "screams": "character"}[r["kind"]]
        assert r["label"][key] == r["group"] == rel.split("/")[1]
    assert manifest["files"]["speech/klettres-fr/alpha-L3.flac"]["label"]["language"] == "fr"
    assert "!" in manifest["files"]["screams/beta/pain1.flac"]["member"]


def test_splits_are_by_source_and_disjoint(library):
    out, _ = library
    records = load_library(out)
    for kind in ("music", "speech", "screams"):
        by_group = group_records(r for r in records if r.kind == kind)
        for group, recs in by_group.items():
            assert len({r.split for r in recs}) == 1, group
    splits = {(r.kind, r.group): r.split for r in records}
    assert splits[("music", "openarena")] == "test-real"
    assert splits[("music", "singularity")] == "train"
    speech = sorted(s for (k, _), s in splits.items() if k == "speech")
    assert speech == ["test-real", "train", "valid"]
    assert "test-real" in {s for (k, _), s in splits.items() if k == "screams"}
    test = load_library(out, kind="speech", split="test-real")
    train = load_library(out, kind="speech", split="train")
    assert test and train and not ({r.group for r in test} & {r.group for r in train})


def test_split_rules_hold_out_a_whole_package():
    groups = {"music": {}, "speech": {}, "screams": {
        **{f"c{i}": {"clips": 10, "packages": ["openarena-data"]} for i in range(10)},
        "ufoai-civilian-male": {"clips": 3, "packages": ["ufoai-sound"]},
        "ufoai-soldier-male": {"clips": 30, "packages": ["ufoai-sound"]}}}
    splits = sources.assign_splits(groups)["screams"]
    assert splits["ufoai-civilian-male"] == splits["ufoai-soldier-male"] == "test-real"
    counts = Counter(splits.values())
    assert counts["test-real"] == 4 and counts["valid"] == 1 and counts["train"] == 7
    # a group's split depends on its own name, not on the order it was seen in
    shuffled = {"music": {}, "speech": {}, "screams": dict(reversed(list(groups["screams"].items())))}
    assert sources.assign_splits(shuffled)["screams"] == splits


def test_same_packages_same_bytes_and_second_run_does_nothing(tmp_path, debs, library):
    out, _ = library
    again = tmp_path / "again"
    build_sources(again, debs_dir=debs, packages=PACKAGES, workers=1, quiet=True)
    assert _tree(again) == _tree(out)
    r = build_sources(again, debs_dir=debs, packages=PACKAGES, workers=1, quiet=True)
    assert r["rendered"] == 0 and r["files"] == len(list(out.rglob("*.flac")))


def test_resume_after_interrupted_build(tmp_path, debs, library, monkeypatch):
    out, _ = library
    part = tmp_path / "part"
    real = sources.render_item
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 10:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(sources, "render_item", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_sources(part, debs_dir=debs, packages=PACKAGES, workers=1, quiet=True)
    monkeypatch.setattr(sources, "render_item", real)
    assert not (part / "manifest.json").exists()
    r = build_sources(part, debs_dir=debs, packages=PACKAGES, workers=1, quiet=True)
    assert 0 < r["rendered"] < 5  # finished parts were kept
    assert _tree(part) == _tree(out)
    assert not list(part.rglob(".sonomorph-tmp-*")) and not (part / ".tmp").exists()
    # a deleted file is rebuilt
    (part / "speech/klettres-de/alpha-L2.flac").unlink()
    r = build_sources(part, debs_dir=debs, packages=PACKAGES, workers=1, quiet=True)
    assert r["rendered"] == 1 and _tree(part) == _tree(out)


def test_only_builds_a_part_and_keeps_the_others(tmp_path, debs):
    out = tmp_path / "lib"
    r = build_sources(out, debs_dir=debs, packages=PACKAGES, only=["music"], workers=1, quiet=True)
    assert r["summary"]["music"]["files"] == 3 and r["summary"]["speech"]["files"] == 0
    assert not (out / "screams").exists()
    build_sources(out, debs_dir=debs, packages=PACKAGES, only=["speech"], workers=1, quiet=True)
    kinds = Counter(r.kind for r in load_library(out))
    assert kinds == {"music": 3, "speech": 3 * CLIPS}


def _fake_apt(tmp_path: Path, monkeypatch, lists: bool) -> None:
    script = tmp_path / "apt-get"
    script.write_text("#!/bin/sh\necho \"E: Unable to locate package $2\" >&2\nexit 100\n")
    script.chmod(0o755)
    monkeypatch.setattr(sources_debs, "APT_GET", str(script))
    lists_dir = tmp_path / "lists"
    lists_dir.mkdir()
    if lists:
        (lists_dir / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages").write_text("")
    monkeypatch.setattr(sources_debs, "APT_LISTS", lists_dir)


def test_missing_package_is_one_line_and_the_rest_is_built(tmp_path, debs, monkeypatch):
    _fake_apt(tmp_path, monkeypatch, lists=True)
    lines: list[str] = []
    r = build_sources(tmp_path / "lib", debs_dir=debs, packages=["scratch", "singularity-music"],
                      workers=1, quiet=True, report=lines.append)
    assert len(lines) == 1 and "scratch" in lines[0] and "\n" not in lines[0]
    assert list(r["missing"]) == ["scratch"]
    assert r["summary"]["music"]["files"] == 2
    manifest = json.loads((tmp_path / "lib" / "manifest.json").read_text())
    assert list(manifest["missing"]) == ["scratch"]


def test_missing_apt_lists_is_a_one_line_error(tmp_path, debs, monkeypatch):
    _fake_apt(tmp_path, monkeypatch, lists=False)
    with pytest.raises(DependencyError) as err:
        build_sources(tmp_path / "lib", debs_dir=tmp_path / "empty", packages=["scratch"],
                      workers=1, quiet=True)
    msg = str(err.value)
    assert "apt-get update" in msg and "\n" not in msg


def test_not_enough_disk_space(tmp_path, debs, monkeypatch):
    class Usage:
        free = 10 * 2**20

    monkeypatch.setattr(sources.shutil, "disk_usage", lambda path: Usage())
    with pytest.raises(DiskSpaceError, match=r"needs about [0-9.]+ GB"):
        build_sources(tmp_path / "lib", debs_dir=debs, packages=PACKAGES, workers=1, quiet=True)


def test_from_folder_is_added_and_validated(tmp_path, debs):
    mine = tmp_path / "mine"
    (mine / "speech" / "me").mkdir(parents=True)
    (mine / "speech" / "me" / "hello.wav").write_bytes(_wav(0.6, 16000))
    out = tmp_path / "lib"
    build_sources(out, debs_dir=debs, packages=["singularity-music"], from_dir=mine, workers=1,
                  quiet=True)
    rec = {r.rel: r for r in load_library(out)}["speech/me/hello.flac"]
    assert rec.package == "--from" and rec.label == {"speaker": "me"} and rec.licence
    (mine / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match="notes.txt"):
        build_sources(out, debs_dir=debs, packages=["singularity-music"], from_dir=mine,
                      workers=1, quiet=True)


def test_label_rules_on_real_member_names():
    k = Counter()
    fillets = sources.RULES["fillets-ng-data-cs"].label({
        "./usr/share/games/fillets-ng/sound/cave/cs/jes-v-netopyr3.ogg": b"a",
        "./usr/share/games/fillets-ng/sound/cave/nl/jes-v-netopyr3.ogg": b"b",
        "./usr/share/games/fillets-ng/sound/cave/cs/jes-m-ryba.ogg": b"c"}, ("speech",), k)
    assert sorted(i.group for i in fillets) == ["fillets-cs-m", "fillets-cs-v", "fillets-nl-v"]
    tub = sources.RULES["ktuberling-data"].label({
        f"./usr/share/ktuberling/sounds/{lang}/brkovi.ogg": lang.encode()
        for lang in ("sr", "sr@latin", "sr@ijekavian", "sr@ijekavianlatin", "de")}, ("speech",), k)
    assert sorted(i.group for i in tub) == ["ktuberling-de", "ktuberling-sr"]
    assert k["duplicate-folder"] == 3
    ast = sources.RULES["asterisk-core-sounds-es-wav"].label({
        "./usr/share/asterisk/sounds/es_MX_f_Allison/digits/1.wav": b"1",
        "./usr/share/asterisk/sounds/en_US_f_Allison/digits/1.wav": b"2",
        "./usr/share/asterisk/sounds/en_US_f_Allison/silence/1.wav": b"3"}, ("speech",), k)
    assert sorted((i.group, i.clip, i.label["language"]) for i in ast) == [
        ("asterisk-allison", "en-digits-1", "en"), ("asterisk-allison", "es-digits-1", "es")]
    mg = sources.RULES["megaglest-data"].label({
        "./usr/share/games/megaglest/techs/megapack/commondata/sounds/archer_die1.wav": b"1",
        "./usr/share/games/megaglest/techs/megapack/commondata/sounds/cow_die1.wav": b"2",
        "./usr/share/games/megaglest/techs/megapack/factions/egypt/units/anubis_warrior/sounds/"
        "warrior_attack1.wav": b"3"}, ("screams",), k)
    assert sorted(i.group for i in mg) == ["megaglest-archer", "megaglest-egypt-warrior"]


def test_cli_builds_summarises_and_reports_a_bad_from_folder(tmp_path, debs, capsys):
    from sonomorph.cli import main

    out = tmp_path / "lib"
    code = main(["-q", "corpus", "sources", "--out", str(out), "--debs", str(debs),
                 "--packages", "singularity-music", "--only", "music", "-j", "1"])
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert code == 0
    assert "music: 2 files" in err and "(1 built, 0 already done)" in err
    code = main(["-q", "corpus", "sources", "--out", str(out), "--debs", str(debs),
                 "--packages", "singularity-music", "--from", str(tmp_path / "nope")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0 and "--from" in err


def test_characters_sharing_a_recording_share_a_split(tmp_path):
    """UFO:AI ships some of OpenArena's cries again (byte-identical after decoding, or
    re-encoded at another rate): a held-out character must not be heard in training
    under another name, so characters that share a recording are one unit of the split."""
    d = tmp_path / "debs"
    shared_ogg = _wav(0.6, 22050, 310, fmt="OGG")
    player = {}
    for i in range(6):
        for j in range(CLIPS - 1):
            player[f"sound/player/c{i}/pain{j}.wav"] = _wav(0.4 + 0.05 * j, 22050, 200 + 37 * i + 11 * j)
    player["sound/player/c0/death1.ogg"] = shared_ogg            # the same file in UFO:AI
    player["sound/player/c1/death1.wav"] = _wav(0.7, 22050, 420)  # UFO:AI has it at 44.1 kHz
    _deb(d, "openarena-data", {"usr/share/games/openarena/baseoa/pak0.pk3": _zip(player)})
    _deb(d, "ufoai-sound", {"usr/share/games/ufoai/base/0snd.pk3": _zip({
        "sound/soldiers/maledeath01.ogg": shared_ogg,
        "sound/soldiers/femaledeath01.ogg": _wav(0.7, 44100, 420, fmt="OGG"),
        "sound/civilians/civmaledeath01.ogg": _wav(0.5, 44100, 600, fmt="OGG")})})
    out = tmp_path / "lib"
    build_sources(out, debs_dir=d, packages=["openarena-data", "ufoai-sound"], workers=1, quiet=True)
    manifest = json.loads((out / "manifest.json").read_text())
    groups = manifest["groups"]["screams"]
    assert groups["c0"]["linked"] == ["ufoai-soldier-male"]
    assert groups["ufoai-soldier-male"]["linked"] == ["c0"]
    assert groups["c1"]["linked"] == ["ufoai-soldier-female"]
    assert "linked" not in groups["c2"] and "linked" not in groups["ufoai-civilian-male"]
    assert groups["c0"]["split"] == groups["ufoai-soldier-male"]["split"]
    assert groups["c1"]["split"] == groups["ufoai-soldier-female"]["split"]
    # the package rule still holds out what is UFO:AI's own
    assert groups["ufoai-civilian-male"]["split"] == "test-real"
    # no recording is in two splits
    files = manifest["files"].values()
    by_split = {s: {r["sha256"] for r in files if r["split"] == s} for s in ("train", "valid", "test-real")}
    assert not (by_split["test-real"] & (by_split["train"] | by_split["valid"]))


def test_split_rules_keep_linked_groups_together():
    groups = {"music": {}, "speech": {}, "screams": {
        **{f"c{i}": {"clips": 10, "packages": ["openarena-data"]} for i in range(10)},
        "ufoai-civilian-male": {"clips": 3, "packages": ["ufoai-sound"]},
        "ufoai-soldier-male": {"clips": 30, "packages": ["ufoai-sound"]}}}
    plain = sources.assign_splits(groups)["screams"]
    # link the soldier to a character that trains on its own, and two of the others
    trains = sorted(g for g, s in plain.items() if s == "train")
    links = {"screams": [{trains[0], "ufoai-soldier-male"}, {trains[1], trains[2]}]}
    linked = sources.assign_splits(groups, links)["screams"]
    assert linked[trains[0]] == linked["ufoai-soldier-male"]
    assert linked[trains[1]] == linked[trains[2]]
    assert linked["ufoai-civilian-male"] == "test-real"
    # groups in no link keep a split that depends on their own name only
    assert sources.assign_splits(groups, {"screams": []}) == sources.assign_splits(groups)


def test_fetch_downloads_with_apt_get_into_the_debs_folder(tmp_path, debs, monkeypatch):
    """The download path: apt-get download runs in a temporary folder and the .deb it
    leaves there is moved into --debs; nothing else is left behind."""
    store = tmp_path / "mirror"
    store.mkdir()
    shutil.copy(debs / f"singularity-music_{VERSION}_all.deb", store)
    script = tmp_path / "apt-get"
    script.write_text(f"#!/bin/sh\n[ \"$1\" = download ] || exit 3\n"
                      f"cp \"{store}/$2_{VERSION}_all.deb\" . || exit 100\n")
    script.chmod(0o755)
    monkeypatch.setattr(sources_debs, "APT_GET", str(script))
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages").write_text("")
    monkeypatch.setattr(sources_debs, "APT_LISTS", lists)
    fresh = tmp_path / "fresh-debs"
    lines: list[str] = []
    r = build_sources(tmp_path / "lib", debs_dir=fresh, packages=["singularity-music", "scratch"],
                      workers=1, quiet=True, report=lines.append)
    assert sorted(p.name for p in fresh.iterdir()) == [f"singularity-music_{VERSION}_all.deb"]
    assert r["summary"]["music"]["files"] == 2 and list(r["missing"]) == ["scratch"]
    assert len(lines) == 1 and lines[0].startswith("cannot fetch scratch")
    # a second run finds the downloaded file and calls apt-get only for the missing one
    script.write_text("#!/bin/sh\n[ \"$2\" = scratch ] || exit 7\nexit 100\n")
    r = build_sources(tmp_path / "lib", debs_dir=fresh, packages=["singularity-music", "scratch"],
                      workers=1, quiet=True)
    assert r["rendered"] == 0 and list(r["missing"]) == ["scratch"]


def test_0ad_inner_archive_cultures_voices_and_cries(tmp_path):
    """0 A.D. keeps its audio in public.zip inside the .deb: its music is grouped by the
    culture its civ file lists it under, voices by language and gender, death cries by
    gender; the inner archive is deleted once read."""
    civ = json.dumps({"Code": "iber", "Culture": "iber", "Music": [{"File": "Tartessos.ogg", "Type": "peace"}]})
    public = _zip({
        "audio/music/Tartessos.ogg": _wav(1.0, 44100, 300, channels=2, fmt="OGG"),
        "audio/music/Menu.ogg": _wav(0.8, 44100, 350, channels=2, fmt="OGG"),
        "audio/voice/latin/civ/civ_male_attack_1.ogg": _wav(0.6, 44100, 140, fmt="OGG"),
        "audio/voice/latin/civ/civ_female_attack_1.ogg": _wav(0.6, 44100, 260, fmt="OGG"),
        "audio/voice/global/civ/dog_bark_1.ogg": _wav(0.6, 44100, 500, fmt="OGG"),
        "audio/actor/human/death/female_death_01.ogg": _wav(0.9, 44100, 700, fmt="OGG"),
        "audio/actor/human/death/death_11.ogg": _wav(0.9, 44100, 650, fmt="OGG"),
        "art/textures/skip.png": b"not audio",
        "simulation/data/civs/iber.json": civ.encode()})
    d = tmp_path / "debs"
    _deb(d, "0ad-data", {"usr/share/games/0ad/mods/public/public.zip": public})
    out = tmp_path / "lib"
    build_sources(out, debs_dir=d, packages=["0ad-data"], workers=1, quiet=True)
    recs = {r.rel: r for r in load_library(out)}
    assert sorted(recs) == [
        "music/0ad-common/Menu.flac", "music/0ad-iber/Tartessos.flac",
        "screams/0ad-death-female/female_death_01.flac", "screams/0ad-death/death_11.flac",
        "speech/0ad-latin-female/civ_female_attack_1.flac", "speech/0ad-latin-male/civ_male_attack_1.flac"]
    tart = recs["music/0ad-iber/Tartessos.flac"]
    assert tart.label == {"source": "0ad-iber", "culture": "iber", "civ": "iber"}
    assert tart.split == "test-real"  # a held-out culture
    assert tart.member == "./usr/share/games/0ad/mods/public/public.zip!audio/music/Tartessos.ogg"
    assert recs["speech/0ad-latin-male/civ_male_attack_1.flac"].label == {
        "speaker": "0ad-latin-male", "language": "latin", "gender": "male"}
    assert recs["screams/0ad-death-female/female_death_01.flac"].label["gender"] == "female"
    assert {r.licence for r in recs.values()} == {"CC-BY-SA-3.0"}
    assert not (out / ".tmp").exists()


def test_soundtrack_packages_plain_opus_and_pk3(tmp_path):
    """The soundtracks added for more varied accompaniment: Warzone 2100's Ogg Opus files
    are read from the package tree; Nexuiz's and UFO:AI's from their pk3 archives, without
    the sound effect, the engine test clips and the track that may hold voice. Each is
    one music source that trains."""
    d = tmp_path / "debs"
    tone = _wav(1.0, 48000, 330, channels=2, fmt="OGG")
    opus = io.BytesIO()
    sf.write(opus, np.zeros((48000, 2), np.float32) + 0.1 * np.sin(
        np.arange(48000) / 48000 * 2 * np.pi * 220)[:, None], 48000, format="OGG", subtype="OPUS")
    _deb(d, "warzone2100-music", {
        "usr/share/games/warzone2100/music/albums/legacy_soundtrack/track4.opus": opus.getvalue(),
        "usr/share/games/warzone2100/music/albums/legacy_soundtrack/license.txt": b"GPL"})
    _deb(d, "nexuiz-music", {"usr/share/games/nexuiz/data/music.pk3": _zip({
        "sound/cdtracks/stairs.ogg": tone, "sound/cdtracks/thunder.ogg": tone,
        "sound/cdtracks/digital-pursuit.ogg": tone})})
    _deb(d, "ufoai-music", {"usr/share/games/ufoai/base/0music.pk3": _zip({
        "music/van_theme.ogg": tone, "music/dynamictest-normal-08-35sec.ogg": tone})})
    out = tmp_path / "lib"
    build_sources(out, debs_dir=d, packages=["warzone2100-music", "nexuiz-music", "ufoai-music"],
                  workers=1, quiet=True)
    recs = {r.rel: r for r in load_library(out)}
    assert sorted(recs) == ["music/nexuiz/stairs.flac", "music/ufoai/van_theme.flac",
                            "music/warzone2100/track4.flac"]
    assert {r.split for r in recs.values()} == {"train"}
    assert recs["music/ufoai/van_theme.flac"].licence == "GPL-2+"
    info = sf.info(out / "music/warzone2100/track4.flac")
    assert (info.samplerate, info.channels) == (44100, 2)
    assert info.duration == pytest.approx(1.0, abs=0.01)

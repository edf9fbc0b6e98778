"""The split rules of the sources library: which folder is ``train``, ``valid`` or
``test-real``.

The folder under each category is the unit of the split: a music *source*, a *speaker* or a
scream *character*; every file of a folder has the folder's split, and a ``test-real`` folder
never occurs in another split (:func:`assign_splits` states the rules). Folders that hold the
same recording (UFO:AI ships several of OpenArena's cries again, MegaGlest factions share
unit voices) are found by :func:`shared_recordings` and placed as one unit, so no held-out
recording is trained on under another name.

Both functions work on the builder's manifest records (:mod:`sonomorph.data.corpus.sources`
calls them when it writes ``manifest.json``); the choice depends only on the folders' names,
sizes and files, never on the order of the build.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile as sf

from sonomorph.audio.io import resample
from sonomorph.data.corpus.common import job_seed

# ----------------------------------------------------------------------------- splits

# Music: whole sources. OpenArena's album and these 0ad cultures are held out for testing;
# this culture is the validation set; every other source trains.
MUSIC_TEST = ("openarena", "0ad-iber", "0ad-maur", "0ad-china")
MUSIC_VALID = ("0ad-cart",)
# Screams: every character of this package is held out, beside a share of the others.
SCREAMS_TEST_PACKAGE = "ufoai-sound"
TEST_SHARE = 0.2
VALID_SHARE = 0.1
MIN_TEST_SPEAKERS = 8
MIN_SPEAKER_CLIPS = 15   # a speaker with fewer clips always trains
MIN_CHARACTER_CLIPS = 8  # likewise for scream characters


def _rank(kind: str, groups: Iterable[str]) -> list[str]:
    """Groups in a fixed pseudo-random order (sha256 of kind and name): a group's place
    depends only on its name, not on the build order."""
    return sorted(groups, key=lambda g: (job_seed(0, "sources-split", kind, g), g))


def _pick_stratified(kind: str, groups: list[str], sizes: dict[str, int], n: int) -> list[str]:
    """``n`` of ``groups`` spread over their sizes: the groups sorted by size are cut
    into ``n`` consecutive strata and the first of each in :func:`_rank` order is taken
    (so a held-out set has large and small speakers alike)."""
    if n <= 0 or not groups:
        return []
    ordered = sorted(groups, key=lambda g: (-sizes[g], g))
    return [_rank(kind, list(stratum))[0] for stratum in np.array_split(np.array(ordered, dtype=object), n)
            if len(stratum)]


def _units(names: Iterable[str], links: Iterable[set[str]]) -> dict[str, list[str]]:
    """The units of the split: groups joined through ``links`` (sets of groups that share a
    recording, transitively), ``{unit name: [groups]}``. A group in no link is its own
    unit under its own name; a joined unit is named by its sorted groups joined with ``+``."""
    parent = {g: g for g in names}

    def root(g: str) -> str:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    for link in links:
        members = sorted(g for g in link if g in parent)
        for g in members[1:]:
            a, b = root(members[0]), root(g)
            if a != b:
                parent[max(a, b)] = min(a, b)
    joined: dict[str, list[str]] = defaultdict(list)
    for g in sorted(parent):
        joined[root(g)].append(g)
    return {"+".join(members): members for members in joined.values()}


def assign_splits(groups: dict[str, dict[str, dict]],
                  links: dict[str, Iterable[set[str]]] | None = None) -> dict[str, dict[str, str]]:
    """``{kind: {group: split}}`` from ``{kind: {group: {"clips": n, "packages": [...]}}}``.

    ``links`` (``{kind: [set of groups, ...]}``) names groups that share a recording (see
    :func:`shared_recordings`); linked groups form one unit, whose clips and packages are
    its groups' together, and every rule below places whole units. Unlinked groups are
    units of their own, so their splits do not change when others are linked.

    - music: :data:`MUSIC_TEST` sources are ``test-real``, :data:`MUSIC_VALID` ``valid``;
    - speech: of the speakers with at least :data:`MIN_SPEAKER_CLIPS` clips, 20% (at
      least :data:`MIN_TEST_SPEAKERS`) are ``test-real`` and 10% ``valid``, chosen by a
      fixed hash of their names within strata of size (see :func:`_pick_stratified`);
    - screams: every unit all of whose clips come from :data:`SCREAMS_TEST_PACKAGE` is
      ``test-real``, and of the others with at least :data:`MIN_CHARACTER_CLIPS` clips,
      20% are ``test-real`` and 10% ``valid``, chosen the same way.
    Everything else (smaller units included) is ``train``. A group is never split."""
    out: dict[str, dict[str, str]] = {}
    for kind, by_group in groups.items():
        units = _units(by_group, (links or {}).get(kind, ()))
        info = {u: {"clips": sum(int(by_group[g]["clips"]) for g in members),
                    "packages": sorted({p for g in members for p in by_group[g].get("packages", ())})}
                for u, members in units.items()}
        split = {g: "train" for g in info}
        if kind == "music":
            for u, members in units.items():
                split[u] = ("test-real" if set(members) & set(MUSIC_TEST) else
                            "valid" if set(members) & set(MUSIC_VALID) else "train")
        else:
            fixed = set()
            if kind == "screams":
                fixed = {g for g, v in info.items() if set(v["packages"]) == {SCREAMS_TEST_PACKAGE}}
            least = MIN_SPEAKER_CLIPS if kind == "speech" else MIN_CHARACTER_CLIPS
            eligible = sorted(g for g, v in info.items() if v["clips"] >= least and g not in fixed)
            sizes = {g: int(info[g]["clips"]) for g in eligible}
            n = len(eligible)
            n_test = int(np.ceil(TEST_SHARE * n))
            if kind == "speech":
                n_test = max(n_test, MIN_TEST_SPEAKERS)
            n_test = min(n_test, max(n - 2, 0))
            n_valid = min(int(np.ceil(VALID_SHARE * n)), max(n - n_test - 1, 0))
            test = set(_pick_stratified(kind, eligible, sizes, n_test)) | fixed
            valid = set(_pick_stratified(kind, [g for g in eligible if g not in test], sizes, n_valid))
            for g in test:
                split[g] = "test-real"
            for g in valid:
                split[g] = "valid"
        out[kind] = dict(sorted((g, split[u]) for u, members in units.items() for g in members))
    return out


# Clips whose decoded audio, brought to this rate, correlates at least this much with
# another group's clip of nearly the same length (start-aligned) are one recording
# (re-encoded, resampled or re-levelled copies). Checked for the screams only: a few
# hundred short clips (the speech part has no copies across speakers, and is large).
NEAR_RATE = 8000
NEAR_CORRELATION = 0.9
NEAR_SECONDS = 0.05
NEAR_KINDS = ("screams",)


def _near_audio(out_dir: Path, rel: str, cache: dict[str, np.ndarray]) -> np.ndarray:
    """The library file ``rel`` as mono at :data:`NEAR_RATE` with unit norm, kept in
    ``cache`` (each clip is compared with several others)."""
    if rel not in cache:
        x, rate = sf.read(out_dir / rel, dtype="float32", always_2d=True)
        x = resample(x.mean(axis=1), rate, NEAR_RATE)
        cache[rel] = x / np.float32(max(float(np.linalg.norm(x)), 1e-9))
    return cache[rel]


def shared_recordings(out_dir: Path, records: Iterable[dict]) -> dict[str, list[set[str]]]:
    """``{kind: [{group, group}, ...]}``: pairs of groups that hold the same recording,
    found by the sha256 of the library's files (identical after normalisation) and, for
    :data:`NEAR_KINDS`, by the correlation of start-aligned clips of nearly the same
    length (see :data:`NEAR_CORRELATION`)."""
    links: dict[str, set[tuple[str, str]]] = defaultdict(set)
    by_sha: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in records:
        by_sha[(r["kind"], r["sha256"])].add(r["group"])
    for (kind, _), gs in by_sha.items():
        gs = sorted(gs)
        links[kind].update((gs[0], g) for g in gs[1:])
    for kind in NEAR_KINDS:
        clips = sorted((r["duration"], r["path"], r["group"]) for r in records if r["kind"] == kind)
        audio: dict[str, np.ndarray] = {}
        for i, (dur, rel, group) in enumerate(clips):
            for dur2, rel2, group2 in clips[i + 1:]:
                if dur2 - dur > NEAR_SECONDS:
                    break
                if group2 == group or tuple(sorted((group, group2))) in links[kind]:
                    continue
                a, b = _near_audio(out_dir, rel, audio), _near_audio(out_dir, rel2, audio)
                n = min(len(a), len(b))
                if float(np.dot(a[:n], b[:n])) >= NEAR_CORRELATION:
                    links[kind].add(tuple(sorted((group, group2))))
    return {k: [set(pair) for pair in sorted(v)] for k, v in links.items()}

"""How the sources library labels what it reads out of each Debian package.

For every package of :data:`sonomorph.data.corpus.sources_packages.PACKAGES` a :class:`Rule` says
which members of the ``.deb`` (and of the ``.pk3``/``.zip`` archives inside it) are read,
and turns the bytes read into items (:class:`Item`), one per clip, with its category (music,
speech, screams), its folder (a music source, a speaker or a scream character), its clip
name and its label (speaker, character, source, language, culture, gender, call, where the
package's file names say so). Label hygiene lives here too: synthetic voices are never read,
duplicate language folders are skipped, animals and machines are left out of the screams.

:data:`RULES_VERSION` is bumped for a build unit when its rules change, so that the builder
(:mod:`sonomorph.data.corpus.sources`) rebuilds that unit only. Fetching, decoding and
writing the clips is the builder's work; this module only reads names and bytes.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

AUDIO_EXTS = (".ogg", ".opus", ".wav", ".flac", ".mp3", ".oga", ".aiff", ".aif")


# ----------------------------------------------------------------------------- items


@dataclass
class Item:
    """One clip to write: where it goes and what it is."""

    kind: str
    group: str
    clip: str
    member: str
    data: bytes
    label: dict = field(default_factory=dict)
    package: str = ""


def _safe(text: str) -> str:
    """A file- and folder-name-safe form of ``text`` (letters, digits, ``._-``)."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return text or "x"


def _stem(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


def _is_audio(path: str) -> bool:
    return path.lower().endswith(AUDIO_EXTS)


# A reader of one package's needed members: ``plain(member)`` says which tar members to
# read, ``archive(member)`` which tar members are zip archives to open, ``inner(name)``
# which members of such an archive to read; ``label(files)`` turns the collected
# {path: bytes} (archive members as "<archive>!<name>") into Items.
@dataclass(frozen=True)
class Rule:
    plain: Callable[[str], bool]
    archive: Callable[[str], bool]
    inner: Callable[[str], bool]
    label: Callable[[dict[str, bytes], tuple[str, ...], Counter], list[Item]]


def _never(_: str) -> bool:
    return False


def _inner_name(path: str) -> str:
    return path.split("!", 1)[1] if "!" in path else path


# --- speech


def _label_fillets(files: dict[str, bytes], kinds: tuple[str, ...], skipped: Counter) -> list[Item]:
    items = []
    for path, data in files.items():
        m = re.search(r"/sound/([^/]+)/(cs|nl)/([^/]+)$", path)
        if not m:
            continue
        level, lang, name = m.groups()
        tokens = _stem(name).split("-")
        if len(tokens) < 3 or not tokens[1]:
            continue
        who = tokens[1]
        if who.isdigit():  # numbered extras (keys, viking1, viking2): numbered per level
            who = f"{level.rstrip('0123456789')}{who}"
        speaker = f"fillets-{lang}-{_safe(who)}"
        items.append(Item("speech", speaker, f"{level}-{_stem(name)}", path, data,
                          {"speaker": speaker, "language": lang}))
    return items


def _label_tuxpaint(files, kinds, skipped):
    items = []
    for path, data in files.items():
        m = re.search(r"/stamps/(.+)_desc_([A-Za-z@_]+)\.ogg$", path)
        if not m:
            continue
        stamp, lang = m.groups()
        speaker = f"tuxpaint-{_safe(lang)}"
        items.append(Item("speech", speaker, _safe(stamp.replace("/", "-")), path, data,
                          {"speaker": speaker, "language": lang}))
    return items


def _label_klettres(files, kinds, skipped):
    items = []
    for path, data in files.items():
        m = re.search(r"/klettres/([^/]+)/(alpha|syllab)/([^/]+)$", path)
        if not m:
            continue
        lang, part, name = m.groups()
        speaker = f"klettres-{_safe(lang)}"
        items.append(Item("speech", speaker, f"{part}-{_safe(_stem(name))}", path, data,
                          {"speaker": speaker, "language": lang}))
    return items


def _label_ktuberling(files, kinds, skipped):
    items = []
    for path, data in files.items():
        m = re.search(r"/ktuberling/sounds/([^/]+)/([^/]+)$", path)
        if not m:
            continue
        lang, name = m.groups()
        if "@" in lang:  # sr@latin, sr@ijekavian, sr@ijekavianlatin: copies of sr
            skipped["duplicate-folder"] += 1
            continue
        speaker = f"ktuberling-{_safe(lang)}"
        items.append(Item("speech", speaker, _safe(_stem(name)), path, data,
                          {"speaker": speaker, "language": lang}))
    return items


def _label_asterisk(files, kinds, skipped):
    items = []
    for path, data in files.items():
        m = re.search(r"/asterisk/sounds/([a-z]{2})_[A-Za-z]+_([fm])_([A-Za-z]+)/(.+)$", path)
        if not m:
            continue
        lang, gender, voice, rel = m.groups()
        if rel.startswith("silence/"):
            continue
        speaker = f"asterisk-{voice.lower()}"
        items.append(Item("speech", speaker, f"{lang}-{_safe(rel.rsplit('.', 1)[0].replace('/', '-'))}",
                          path, data,
                          {"speaker": speaker, "language": lang,
                           "gender": "female" if gender == "f" else "male"}))
    return items


# --- music


def _label_music_folder(source: str, pattern: str, culture: str | None = None):
    def label(files, kinds, skipped):
        items = []
        for path, data in files.items():
            if re.search(pattern, path) and _is_audio(path):
                lab = {"source": source}
                if culture:
                    lab["culture"] = culture
                items.append(Item("music", source, _safe(_stem(_inner_name(path))), path, data, lab))
        return items
    return label


# --- screams


def _label_quake_players(files, kinds, skipped):
    """OpenArena and Nexuiz: ``sound/player/<character>/**`` in the pk3 files; later
    packages (patches) replace a character's clip of the same name."""
    items: dict[tuple[str, str], Item] = {}
    for path, data in sorted(files.items()):
        inner = _inner_name(path)
        if "music" in kinds and inner.startswith("music/") and _is_audio(inner):
            items[("music", inner)] = Item("music", "openarena", _safe(_stem(inner)), path, data,
                                           {"source": "openarena"})
            continue
        m = re.match(r"sound/player/([^/]+)/(.+)$", inner)
        if not m or not _is_audio(inner) or "screams" not in kinds:
            continue
        character, rel = m.groups()
        if character in ("footsteps", "announcer"):
            continue
        clip = _safe(rel.rsplit(".", 1)[0].replace("/", "-"))
        items[("screams", character, clip)] = Item("screams", character, clip, path, data,
                                                   {"character": character})
    return list(items.values())


# MegaGlest unit names (the prefix before _die/_attack) that are human voices; animals,
# monsters and machines (cow, pig, dragon, daemon, golem, catapult, airship...) are left out.
MEGAGLEST_HUMANS = frozenset({
    "archer", "archmage", "axe_thrower", "battlemage", "cudgel", "guard", "horseman",
    "initiate", "princess", "shaman", "spearman", "stickfighter", "summoner", "swordman",
    "technician", "valkyrie", "warrior", "worker", "battleaxe", "cudgel_lady", "fakir",
    "fire_archer", "axe_indian", "gladiator",
})


def _label_megaglest(files, kinds, skipped):
    items = []
    for path, data in files.items():
        m = re.search(r"/techs/megapack/(?:factions/([^/]+)/units/([^/]+)/sounds|commondata/sounds)/"
                      r"([^/]+?)_(die|attack)([^/]*)$", path)
        if not m:
            continue
        faction, unit, prefix, what, rest = m.groups()
        if prefix not in MEGAGLEST_HUMANS:
            continue
        character = f"megaglest-{faction}-{prefix}" if faction else f"megaglest-{prefix}"
        items.append(Item("screams", _safe(character), _safe(_stem(path)), path, data,
                          {"character": character, "unit": unit or prefix,
                           "call": "death" if what == "die" else "attack"}))
    return items


def _label_ufoai(files, kinds, skipped):
    items = []
    for path, data in files.items():
        inner = _inner_name(path)
        m = re.match(r"sound/(soldiers|civilians)/(civfem|civmale|female|male)([a-z]+)\d+a?\.ogg$", inner)
        if not m:
            continue
        who, sex, what = m.groups()
        gender = "female" if "fem" in sex else "male"
        character = f"ufoai-{who[:-1]}-{gender}"
        items.append(Item("screams", character, _safe(_stem(inner)), path, data,
                          {"character": character, "gender": gender, "call": what}))
    return items


def _label_scratch(files, kinds, skipped):
    items = []
    for path, data in files.items():
        m = re.search(r"/Media/Sounds/Human/(Scream-(female|male)\d*)\.(wav|mp3)$", path)
        if not m:
            continue
        name, gender = m.group(1), m.group(2)
        character = f"scratch-{_safe(name.lower())}"
        items.append(Item("screams", character, _safe(name), path, data,
                          {"character": character, "gender": gender}))
    return items


# --- 0ad (music with cultures from the civ files, actors' voices, human death cries)

_0AD_ZIP = "./usr/share/games/0ad/mods/public/public.zip"


def _0ad_inner(name: str) -> bool:
    return (name.startswith(("audio/music/", "audio/voice/", "audio/actor/human/death/"))
            and _is_audio(name)) or (name.startswith("simulation/data/civs/") and name.endswith(".json"))


def _0ad_cultures(files: dict[str, bytes]) -> dict[str, tuple[str, str]]:
    """Music file name -> (culture, civ), from the ``Music`` lists of
    ``simulation/data/civs/<civ>.json``; a track listed by several civilisations takes
    the first civ file in sorted order."""
    cultures: dict[str, tuple[str, str]] = {}
    for path in sorted(files):
        inner = _inner_name(path)
        if not inner.startswith("simulation/data/civs/"):
            continue
        try:
            civ = json.loads(files[path].decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            continue
        code = str(civ.get("Code") or _stem(inner))
        culture = str(civ.get("Culture") or code)
        for entry in civ.get("Music", []) or []:
            name = entry.get("File") if isinstance(entry, dict) else None
            if isinstance(name, str):
                cultures.setdefault(name.rsplit("/", 1)[-1], (culture, code))
    return cultures


def _label_0ad(files, kinds, skipped):
    """Music grouped by culture (``0ad-<culture>``; tracks no civilisation lists go to
    ``0ad-common``); voices as one speaker per language and gender (the file names,
    ``audio/voice/<language>/civ/civ_<gender>_<phrase>_<n>.ogg``, name no actor); death
    cries as ``0ad-death-female``, ``0ad-death-male`` and ``0ad-death`` (no gender in the
    name)."""
    cultures = _0ad_cultures(files)
    items = []
    for path, data in files.items():
        inner = _inner_name(path)
        if not _is_audio(inner):
            continue
        name = inner.rsplit("/", 1)[-1]
        stem = _stem(name)
        if inner.startswith("audio/music/"):
            culture, civ = cultures.get(name, (None, None))
            source = f"0ad-{_safe(culture)}" if culture else "0ad-common"
            lab = {"source": source}
            if culture:
                lab.update(culture=culture, civ=civ)
            items.append(Item("music", source, _safe(stem), path, data, lab))
        elif inner.startswith("audio/voice/"):
            m = re.match(r"audio/voice/([^/]+)/[^/]+/civ_(female|male)_(.+)$", inner)
            if not m:  # audio/voice/global: a dog
                continue
            language, gender, _ = m.groups()
            speaker = f"0ad-{_safe(language)}-{gender}"
            items.append(Item("speech", speaker, _safe(stem), path, data,
                              {"speaker": speaker, "language": language, "gender": gender}))
        elif inner.startswith("audio/actor/human/death/"):
            gender = "female" if stem.startswith("female") else "male" if stem.startswith("male") else None
            character = f"0ad-death-{gender}" if gender else "0ad-death"
            lab = {"character": character, "call": "death"}
            if gender:
                lab["gender"] = gender
            items.append(Item("screams", character, _safe(stem), path, data, lab))
    return items


def _prefix(*prefixes: str) -> Callable[[str], bool]:
    def pred(path: str) -> bool:
        return path.startswith(prefixes) and _is_audio(path)
    return pred


def _all_audio(path: str) -> bool:
    return _is_audio(path)


RULES: dict[str, Rule] = {
    "0ad-data": Rule(_never, lambda p: p == _0AD_ZIP, _0ad_inner, _label_0ad),
    "singularity-music": Rule(_prefix("./usr/share/games/singularity/music/"), _never, _never,
                              _label_music_folder("singularity", r"/singularity/music/")),
    "fillets-ng-data": Rule(_prefix("./usr/share/games/fillets-ng/music/"), _never, _never,
                            _label_music_folder("fillets", r"/fillets-ng/music/")),
    "asterisk-moh-opsound-wav": Rule(_prefix("./usr/share/asterisk/moh/"), _never, _never,
                                     _label_music_folder("asterisk-moh", r"/asterisk/moh/")),
    "hyperrogue-music": Rule(_prefix("./usr/share/hyperrogue/music/"), _never, _never,
                             _label_music_folder("hyperrogue", r"/hyperrogue/music/")),
    "warzone2100-music": Rule(_prefix("./usr/share/games/warzone2100/music/"), _never, _never,
                              _label_music_folder("warzone2100", r"/warzone2100/music/")),
    "fillets-ng-data-cs": Rule(_prefix("./usr/share/games/fillets-ng/sound/"), _never, _never, _label_fillets),
    "fillets-ng-data-nl": Rule(_prefix("./usr/share/games/fillets-ng/sound/"), _never, _never, _label_fillets),
    "tuxpaint-stamps-default": Rule(lambda p: p.startswith("./usr/share/tuxpaint/stamps/") and "_desc_" in p
                                    and p.endswith(".ogg"), _never, _never, _label_tuxpaint),
    "klettres-data": Rule(_prefix("./usr/share/klettres/"), _never, _never, _label_klettres),
    "ktuberling-data": Rule(_prefix("./usr/share/ktuberling/sounds/"), _never, _never, _label_ktuberling),
    "megaglest-data": Rule(lambda p: "/techs/megapack/" in p and ("_die" in p or "_attack" in p)
                           and _is_audio(p), _never, _never, _label_megaglest),
    "scratch": Rule(_prefix("./usr/share/scratch/Media/Sounds/Human/"), _never, _never, _label_scratch),
}
for _name in ("asterisk-core-sounds-en-wav", "asterisk-core-sounds-es-wav", "asterisk-core-sounds-fr-wav",
              "asterisk-core-sounds-it-wav", "asterisk-core-sounds-ru-wav", "asterisk-prompt-it-menardi-wav"):
    RULES[_name] = Rule(_prefix("./usr/share/asterisk/sounds/"), _never, _never, _label_asterisk)


def _pk3(path: str) -> bool:
    return path.endswith(".pk3")


def _quake_inner(name: str) -> bool:
    if name.startswith("sound/voices/festivoxmale/"):  # synthetic voice: never read
        return False
    return (name.startswith("sound/player/") or name.startswith("music/")) and _is_audio(name)


for _name in ("openarena-data", "openarena-081-players", "openarena-085-data", "openarena-088-data",
              "nexuiz-data"):
    RULES[_name] = Rule(_never, _pk3, _quake_inner, _label_quake_players)
# Soundtracks inside pk3 archives: whole tracks only (UFO:AI's "dynamictest" clips are
# seconds-long engine tests, Nexuiz's "thunder" a sound effect). "digital-pursuit" is left
# out because it may hold voice: the only new music file whose vocals stem (shipped
# separator, middle 30 s) came within 8 dB of the input (-4.76 dB; the next -9.45;
# benchmarks/music_voice_screen.py).
RULES["nexuiz-music"] = Rule(_never, _pk3, lambda n: n.startswith("sound/cdtracks/") and _is_audio(n)
                             and not n.endswith(("/thunder.ogg", "/digital-pursuit.ogg")),
                             _label_music_folder("nexuiz", r"sound/cdtracks/"))
RULES["ufoai-music"] = Rule(_never, _pk3, lambda n: n.startswith("music/") and _is_audio(n)
                            and "dynamictest" not in n,
                            _label_music_folder("ufoai", r"music/"))
RULES["ufoai-sound"] = Rule(_never, _pk3, lambda n: n.startswith(("sound/soldiers/", "sound/civilians/"))
                            and _is_audio(n), _label_ufoai)


# Bumped when a unit's labelling rules change (only that unit is rebuilt).
RULES_VERSION: dict[str, int] = {"fillets-cs": 2, "fillets-nl": 2, "nexuiz-music": 2}

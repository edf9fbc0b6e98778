"""The Debian packages of the sources library (:mod:`sonomorph.data.corpus.sources`): each
package's licence, categories (music, speech, screams) and sizes (:data:`PACKAGES`), and the
build units that read one or more packages in one pass (:data:`UNITS`). Which members of a
package are read, and how they are labelled, is :mod:`sonomorph.data.corpus.sources_labels`."""

from __future__ import annotations

from dataclasses import dataclass

from sonomorph.data.corpus.sources_library import KINDS

# ----------------------------------------------------------------------------- packages


@dataclass(frozen=True)
class Package:
    """A Debian package that holds real recordings, and what we take from it.

    ``deb_mb``: download size; ``temp_mb``: the largest temporary it needs (an inner
    archive); ``out_mb``: about what its FLAC files take (used for the disk check)."""

    name: str
    licence: str
    kinds: tuple[str, ...]
    deb_mb: int
    temp_mb: int
    out_mb: int
    note: str = ""


_CCBYSA = "CC-BY-SA-3.0"
PACKAGES: dict[str, Package] = {p.name: p for p in (
    # music and speech first, screams last (the order of the build)
    Package("0ad-data", _CCBYSA, ("music", "speech", "screams"), 1170, 3300, 1000,
            "0 A.D. (Wildfire Games): audio/music, audio/voice, audio/actor/human/death"),
    Package("singularity-music", _CCBYSA, ("music",), 55, 0, 400, "Singularity soundtrack"),
    Package("fillets-ng-data", "GPL-2", ("music",), 90, 0, 120, "Fish Fillets NG music"),
    Package("openarena-088-data", "GPL-2+", ("music", "screams"), 73, 75, 80,
            "OpenArena 0.8.8: music/ and sound/player/neko in pak6-patch088.pk3"),
    Package("asterisk-moh-opsound-wav", _CCBYSA, ("music",), 18, 0, 90,
            "Asterisk music on hold (opsound.org), 8 kHz"),
    Package("hyperrogue-music", _CCBYSA, ("music",), 64, 0, 450, "HyperRogue soundtrack"),
    Package("warzone2100-music", "GPL-2+", ("music",), 86, 0, 950, "Warzone 2100 soundtracks"),
    Package("nexuiz-music", "GPL-2+", ("music",), 84, 90, 500, "Nexuiz soundtrack: sound/cdtracks in music.pk3"),
    Package("ufoai-music", "GPL-2+", ("music",), 210, 215, 1300, "UFO: Alien Invasion soundtrack: music/ in 0music.pk3"),
    Package("fillets-ng-data-cs", "GPL-2", ("speech",), 30, 0, 420, "Fish Fillets NG, Czech voices"),
    Package("fillets-ng-data-nl", "GPL-2", ("speech",), 30, 0, 380, "Fish Fillets NG, Dutch voices"),
    Package("tuxpaint-stamps-default", "GPL-2", ("speech",), 230, 0, 700,
            "Tux Paint stamp descriptions read aloud"),
    Package("klettres-data", "GPL-2+", ("speech",), 20, 0, 200, "KLettres letters and syllables"),
    Package("ktuberling-data", "GPL-2+", ("speech",), 40, 0, 80, "KTuberling words"),
    Package("asterisk-core-sounds-en-wav", _CCBYSA, ("speech",), 25, 0, 30, "Asterisk prompts, Allison (en)"),
    Package("asterisk-core-sounds-es-wav", _CCBYSA, ("speech",), 25, 0, 30, "Asterisk prompts, Allison (es)"),
    Package("asterisk-core-sounds-fr-wav", _CCBYSA, ("speech",), 25, 0, 30, "Asterisk prompts, June (fr)"),
    Package("asterisk-core-sounds-it-wav", _CCBYSA, ("speech",), 25, 0, 30, "Asterisk prompts, Carlo (it)"),
    Package("asterisk-core-sounds-ru-wav", _CCBYSA, ("speech",), 25, 0, 30, "Asterisk prompts (ru)"),
    Package("asterisk-prompt-it-menardi-wav", _CCBYSA, ("speech",), 25, 0, 30,
            "Asterisk prompts, Menardi (it)"),
    Package("openarena-data", "GPL-2+", ("screams",), 45, 40, 5, "OpenArena: sound/player in pak0.pk3"),
    Package("openarena-081-players", "GPL-2+", ("screams",), 77, 77, 20,
            "OpenArena player models: sound/player in pak2-players.pk3"),
    Package("openarena-085-data", "GPL-2+", ("screams",), 39, 39, 5, "OpenArena 0.8.5 patch"),
    Package("nexuiz-data", "GPL-2+", ("screams",), 280, 280, 50, "Nexuiz: sound/player in data.pk3"),
    Package("megaglest-data", _CCBYSA, ("screams",), 300, 0, 40,
            "MegaGlest megapack unit voices (*_die*, *_attack*)"),
    Package("ufoai-sound", "GPL-2 / CC-BY-SA-3.0", ("screams",), 19, 19, 10,
            "UFO: Alien Invasion soldier and civilian cries in 0snd.pk3"),
    Package("scratch", "CC-BY-SA-3.0 (media)", ("screams",), 70, 0, 3, "Scratch media: Human screams"),
)}


# ----------------------------------------------------------------------------- build units

# A unit is built in one pass over its packages' .deb files; its clips of one category form
# one job (one done-marker). OpenArena's packages are one unit because a patch package
# replaces a character's clips of the same name; the Asterisk prompts are one unit because
# one voice (Allison) speaks in two of them.
UNITS: dict[str, tuple[str, ...]] = {
    "0ad": ("0ad-data",),
    "singularity": ("singularity-music",),
    "fillets": ("fillets-ng-data",),
    "asterisk-moh": ("asterisk-moh-opsound-wav",),
    "hyperrogue": ("hyperrogue-music",),
    "warzone2100": ("warzone2100-music",),
    "nexuiz-music": ("nexuiz-music",),
    "ufoai-music": ("ufoai-music",),
    "openarena": ("openarena-data", "openarena-081-players", "openarena-085-data", "openarena-088-data"),
    "fillets-cs": ("fillets-ng-data-cs",),
    "fillets-nl": ("fillets-ng-data-nl",),
    "tuxpaint": ("tuxpaint-stamps-default",),
    "klettres": ("klettres-data",),
    "ktuberling": ("ktuberling-data",),
    "asterisk": ("asterisk-core-sounds-en-wav", "asterisk-core-sounds-es-wav", "asterisk-core-sounds-fr-wav",
                 "asterisk-core-sounds-it-wav", "asterisk-core-sounds-ru-wav", "asterisk-prompt-it-menardi-wav"),
    "nexuiz": ("nexuiz-data",),
    "megaglest": ("megaglest-data",),
    "ufoai": ("ufoai-sound",),
    "scratch": ("scratch",),
}


def unit_kinds(unit: str) -> tuple[str, ...]:
    kinds = {k for p in UNITS[unit] for k in PACKAGES[p].kinds}
    return tuple(k for k in KINDS if k in kinds)

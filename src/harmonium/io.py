"""Model files: safetensors tensors plus a JSON description, written atomically.

A file is one ``.safetensors`` file. Its tensors are the object's tensors; its header
metadata holds one JSON document under the key ``"harmonium"``::

    {"format": "harmonium", "format_version": 1, "class": "RBM", "state": {...}}

``state`` is the object's nested state (dicts, lists, numbers, strings) in which each
tensor is replaced by ``{"__tensor__": "<key>"}``. Loading never unpickles anything: it
parses JSON, reads raw tensor bytes, and calls ``_from_state`` of a class that is both
a public name of :mod:`harmonium` and registered with :func:`savable`, so a file cannot
name arbitrary code to run.

A class is savable when it is decorated with :func:`savable` and has
``_to_state(self) -> dict`` and a classmethod ``_from_state(cls, state) -> obj``; each
model module registers its own classes, so this module holds no table of them. A plain
``dict`` of tensors and JSON values (a training checkpoint, say) is savable as it is
and loads back as a ``dict``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as _safetensors_bytes

__all__ = ["FORMAT_VERSION", "load", "savable", "save"]

FORMAT_VERSION = 1
_META_KEY = "harmonium"

# classes registered by @savable, by the name written in the file
_SAVABLE: dict[str, type] = {}


def savable(cls: type) -> type:
    """Class decorator: allow :func:`save` and :func:`load` for ``cls``.

    ``cls`` needs ``_to_state(self) -> dict`` and a classmethod ``_from_state(cls,
    state)``, and must be exported by the :mod:`harmonium` package under its own name
    (that is how :func:`load` finds it without importing arbitrary modules).
    """
    if not (hasattr(cls, "_to_state") and hasattr(cls, "_from_state")):
        raise TypeError(f"{cls.__name__} needs _to_state and _from_state to be savable")
    _SAVABLE[cls.__name__] = cls
    return cls


def _savable_class(class_name: str) -> type | None:
    """The registered class saved under ``class_name``, imported through the package."""
    import harmonium

    if class_name not in harmonium.__all__:
        return None
    cls = getattr(harmonium, class_name)  # imports the defining module, which registers
    return cls if _SAVABLE.get(class_name) is cls else None


def _flatten(obj, tensors: dict[str, torch.Tensor], path: str):
    """Replace tensors in a nested structure by references, collecting them."""
    if isinstance(obj, torch.Tensor):
        key = path or "tensor"
        tensors[key] = obj.detach().to("cpu").contiguous().clone()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"state keys must be strings, got {k!r} at {path or '<root>'}")
            out[k] = _flatten(v, tensors, f"{path}.{k}" if path else k)
        return out
    if isinstance(obj, (list, tuple)):
        return [_flatten(v, tensors, f"{path}.{i}" if path else str(i)) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot save a value of type {type(obj).__name__} at {path or '<root>'}")


def _unflatten(obj, tensors: dict[str, torch.Tensor]):
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            return tensors[obj["__tensor__"]]
        return {k: _unflatten(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    return obj


def save(obj, path: str | os.PathLike) -> Path:
    """Save a model or a checkpoint dict to ``path`` (safetensors + JSON), atomically.

    The file is written to a temporary name in the same folder and renamed over
    ``path`` only when complete, so an interrupted save never leaves a half-written
    file and never destroys the previous one.

    Parameters
    ----------
    obj : savable object or dict
        A harmonium model (a class registered with :func:`savable`) or a
        nested dict of tensors, numbers, strings and lists.
    path : str or PathLike
        Destination file, conventionally ``*.safetensors``.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    if isinstance(obj, dict):
        class_name, state = "dict", obj
    else:
        class_name = type(obj).__name__
        if _SAVABLE.get(class_name) is not type(obj):
            raise TypeError(
                f"cannot save a {class_name}: expected a harmonium model "
                f"({', '.join(sorted(_SAVABLE))}) or a dict"
            )
        state = obj._to_state()
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(state, tensors, "")
    header = {
        "format": "harmonium",
        "format_version": FORMAT_VERSION,
        "class": class_name,
        "state": skeleton,
    }
    payload = _safetensors_bytes(tensors, metadata={_META_KEY: json.dumps(header)})
    if not path.parent.exists():
        raise FileNotFoundError(f"cannot save to {path}: folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: str | os.PathLike, *, device: torch.device | str | None = None):
    """Load an object written by :func:`save`.

    Parameters
    ----------
    path : str or PathLike
        A file written by :func:`harmonium.save`.
    device : torch.device or str, optional
        Where to put the tensors (default: CPU).

    Returns
    -------
    object
        The model, or the dict for a checkpoint.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is damaged, truncated, not a harmonium file, or from a newer
        format version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such model file: {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path} is not a readable safetensors file ({exc})") from None
    try:
        header = json.loads(meta[_META_KEY])
        fmt, version, class_name, skeleton = (
            header["format"],
            header["format_version"],
            header["class"],
            header["state"],
        )
    except (KeyError, TypeError, json.JSONDecodeError):
        raise ValueError(f"{path} is a safetensors file but not a harmonium model file") from None
    if fmt != "harmonium":
        raise ValueError(f"{path} is not a harmonium model file (format {fmt!r})")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {version}; this harmonium reads up to "
            f"{FORMAT_VERSION}: upgrade harmonium"
        )
    if device is not None:
        tensors = {k: v.to(device) for k, v in tensors.items()}
    try:
        state = _unflatten(skeleton, tensors)
    except KeyError as exc:
        raise ValueError(f"{path} is damaged: tensor {exc} is missing") from None
    if class_name == "dict":
        return state
    cls = _savable_class(class_name) if isinstance(class_name, str) else None
    if cls is None:
        raise ValueError(f"{path} holds an unknown class {class_name!r}")
    try:
        return cls._from_state(state)
    except (KeyError, TypeError) as exc:
        raise ValueError(
            f"{path} is damaged: its {class_name} state is incomplete ({exc})"
        ) from None

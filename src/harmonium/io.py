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

__all__ = ["FORMAT_VERSION", "load", "savable", "save", "state_tensor", "state_value"]

FORMAT_VERSION = 1
_META_KEY = "harmonium"
# deepest nesting of the JSON state a file may hold; harmonium's own states are < 10 deep
MAX_DEPTH = 64
# dtypes a model parameter may be stored in
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

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


def _unflatten(obj, tensors: dict[str, torch.Tensor], depth: int = 0):
    """Put the tensors back in place of their references; ValueError on a bad reference."""
    if depth > MAX_DEPTH:
        raise ValueError(f"its state is nested deeper than {MAX_DEPTH} levels")
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            key = obj["__tensor__"]
            if not isinstance(key, str) or key not in tensors:
                raise ValueError(f"tensor {key!r} is missing")
            return tensors[key]
        return {k: _unflatten(v, tensors, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unflatten(v, tensors, depth + 1) for v in obj]
    return obj


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    text = repr(value)
    return f"{type(value).__name__} {text[:40] + '...' if len(text) > 40 else text}"


def _is_kind(value, kind: type) -> bool:
    """isinstance, except that a bool is no number and an int is also a float."""
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


def state_value(state, key: str, kind: type | tuple[type, ...], *, owner: str):
    """``state[key]`` checked to be a ``kind`` (JSON types; a bool is not a number here).

    For the ``_from_state`` methods of savable classes, which receive what a file holds.

    Parameters
    ----------
    state : object
        Should be a dict (anything else is reported).
    key : str
    kind : type or tuple of types
        ``int``, ``float`` (an int is accepted), ``str``, ``bool``, ``list``, ``dict``,
        ``type(None)``.
    owner : str
        What the state describes, for the message (e.g. ``"HopfieldNetwork"``).

    Raises
    ------
    ValueError
        If ``state`` is not a dict, ``key`` is missing or the value has another type.
    """
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(state, dict):
        raise ValueError(f"the {owner} state must be a dict, got {_describe(state)}")
    if key not in state:
        raise ValueError(f"the {owner} state is incomplete: it has no {key!r}")
    value = state[key]
    if not any(_is_kind(value, k) for k in kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise ValueError(f"the {owner} state's {key!r} must be {names}, got {_describe(value)}")
    return value


def state_tensor(state, key: str, shape: tuple | None = None, *, owner: str,
                 dtype: torch.dtype | None = None) -> torch.Tensor:
    """``state[key]`` checked to be a finite floating tensor of the expected shape.

    Parameters
    ----------
    state : object
        Should be a dict holding the tensor under ``key``.
    key : str
    shape : tuple of (int or None), optional
        Expected shape; ``None`` entries match any size. Default: any shape.
    owner : str
        What the state describes, for the message.
    dtype : torch.dtype, optional
        Required dtype (to keep a model's tensors in one dtype); default: any of
        float16, bfloat16, float32, float64.

    Raises
    ------
    ValueError
        If the value is not a tensor, has another dtype or shape, or holds NaN/inf.
    """
    value = state_value(state, key, torch.Tensor, owner=owner)
    allowed = _FLOAT_DTYPES if dtype is None else (dtype,)
    expected = "any" if shape is None else tuple("n" if s is None else s for s in shape)
    fits = shape is None or (value.dim() == len(shape) and all(
        s is None or s == n for s, n in zip(shape, value.shape, strict=True)))
    if value.dtype not in allowed or not fits:
        names = ", ".join(str(d) for d in allowed)
        raise ValueError(f"the {owner} state's {key!r} must be a tensor of dtype {names} "
                         f"and shape {expected}, got {_describe(value)}")
    if value.device.type != "meta" and not torch.isfinite(value).all():
        raise ValueError(f"the {owner} state's {key!r} holds NaN or infinite values")
    return value


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 -> what open() would give
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
    meta, tensors = _read(path)
    class_name, skeleton = _parse_header(path, meta)
    if device is not None:
        tensors = {k: v.to(device) for k, v in tensors.items()}
    try:
        state = _unflatten(skeleton, tensors)
    except ValueError as exc:
        raise ValueError(f"{path} is damaged: {exc}") from None
    if class_name == "dict":
        return state
    cls = _savable_class(class_name)
    if cls is None:
        raise ValueError(f"{path} holds an unknown class {class_name!r}")
    try:
        return cls._from_state(state)
    except ValueError as exc:
        raise ValueError(f"{path} holds a damaged {class_name}: {exc}") from None
    except (KeyError, TypeError, IndexError, AttributeError, OverflowError) as exc:
        # a safety net under the classes' own checks: a file is data, not a program
        raise ValueError(
            f"{path} is damaged: its {class_name} state is incomplete or malformed "
            f"({type(exc).__name__}: {exc})"
        ) from None


def _read(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """The safetensors metadata and tensors of ``path`` (on the CPU).

    safetensors checks the container before it reads a tensor: the header length
    against the file size, every tensor's dtype, shape and byte range against the
    data that follows (so a header claiming a huge tensor is refused, not allocated).
    """
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as exc:
        raise ValueError(f"{path} is not a readable safetensors file ({exc})") from None
    return meta, tensors


def _parse_header(path: Path, meta: dict) -> tuple[str, object]:
    """The class name and state skeleton of harmonium's JSON header, checked."""
    try:
        header = json.loads(meta[_META_KEY])
        fmt, version, class_name, skeleton = (
            header["format"],
            header["format_version"],
            header["class"],
            header["state"],
        )
    except (KeyError, TypeError, ValueError, RecursionError):  # JSONDecodeError is a ValueError
        raise ValueError(f"{path} is a safetensors file but not a harmonium model file") from None
    if fmt != "harmonium":
        raise ValueError(f"{path} is not a harmonium model file (format {fmt!r})")
    if isinstance(version, bool) or not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {version!r}; this harmonium reads up to "
            f"{FORMAT_VERSION}: upgrade harmonium"
        )
    if not isinstance(class_name, str):
        raise ValueError(f"{path} holds an unknown class {class_name!r}")
    return class_name, skeleton

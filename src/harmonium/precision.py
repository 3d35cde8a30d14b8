"""Precision policies: the dtype the weight products of a step run in.

A step of an RBM spends most of its time in matrix products with the weights. A
precision policy runs those products in a low-precision dtype (bfloat16 or float16,
or TF32 on a GPU) with float32 accumulation inside the matrix engine, and keeps
everything else in the model's own dtype: the parameters (the master copy), the
gradients and the optimiser state, the unit layers' means and draws (so binary and
spin samples stay exact), and the float64 log weights of AIS.

The low-precision copy of the weights is held in both layouts, ``W`` (visible x
hidden) for ``v W`` and ``W'`` (hidden x visible) for ``h W'``, so that no operand
of a forward product is transposed on the fly; the copy is refreshed in place
whenever the weights change (the tensor's version counter says when).

Policies are asked for by name (``"float32"``, ``"bf16"``, ``"fp16"``, ``"tf32"``)
or as a :class:`Precision`. A name asks for speed: where the hardware has no fast
matrix products in that dtype (a CPU without AVX512-BF16 or AMX, TF32 on a CPU) the
policy falls back to float32 and says so once (:class:`PrecisionFallbackWarning`). A
:class:`Precision` built with ``strict=True`` runs in the dtype whatever the
hardware (for measurements and tests: bfloat16 is emulated, slowly, without it).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import warnings
from dataclasses import dataclass

import torch

__all__ = ["Precision", "PrecisionFallbackWarning", "WeightProducts", "draw_bits",
           "fast_products", "resolve", "use_precision", "weight_gradient_"]

_DTYPES = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16,
           "tf32": None}
_ALIASES = {"float32": "float32", "fp32": "float32", "single": "float32",
            "bfloat16": "bfloat16", "bf16": "bfloat16", "float16": "float16",
            "fp16": "float16", "half": "float16", "tf32": "tf32"}
# CPU feature flags (Linux /proc/cpuinfo) under which oneDNN has fast products
_CPU_FLAGS = {"bfloat16": ("amx_bf16", "avx512_bf16", "bf16"),
              "float16": ("amx_fp16", "avx512_fp16")}


_DRAW_BITS: contextvars.ContextVar[int | None] = contextvars.ContextVar("draw_bits",
                                                                       default=None)


def draw_bits() -> int | None:
    """Resolution of the Bernoulli draws in the current scope (``None``: torch.rand's)."""
    return _DRAW_BITS.get()


class PrecisionFallbackWarning(UserWarning):
    """A low precision was asked for where the hardware has no fast products in it."""


@dataclass(frozen=True)
class Precision:
    """A precision policy for the weight products.

    Parameters
    ----------
    name : {"float32", "bfloat16", "float16", "tf32"}
        Aliases ``"fp32"``, ``"bf16"``, ``"fp16"``, ``"half"`` are accepted.
    strict : bool
        Run in this precision even where the hardware has no fast products in it.
    draw_bits : {None, 15}
        Resolution of the uniforms behind Bernoulli and spin draws: ``None`` keeps
        ``torch.rand``'s stream; 15 takes four uniforms from each 64-bit word of the
        generator, so ``P(state high)`` is the probability rounded up to a multiple
        of ``2**-15`` (:func:`harmonium.parallel.coin_uniforms_like`).
    """

    name: str = "float32"
    strict: bool = False
    draw_bits: int | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or self.name.lower() not in _ALIASES:
            raise ValueError(f"precision must be one of {sorted(set(_ALIASES))}, "
                             f"got {self.name!r}")
        object.__setattr__(self, "name", _ALIASES[self.name.lower()])
        if self.draw_bits not in (None, 15):
            raise ValueError(f"draw_bits must be None or 15, got {self.draw_bits!r}")

    @property
    def product_dtype(self) -> torch.dtype | None:
        """The dtype of the products' operands; ``None``: the model's own dtype."""
        return _DTYPES[self.name]

    @property
    def is_default(self) -> bool:
        """True for float32 products and torch.rand's draws (nothing to change)."""
        return self.name == "float32" and self.draw_bits is None


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def fast_products(name: str, device: torch.device | str) -> bool:
    """Whether ``device`` has fast matrix products in precision ``name``.

    CUDA: TF32 and bfloat16 from compute capability 8.0 (Ampere), float16 always.
    CPU: bfloat16 / float16 where the CPU advertises the matrix or vector
    instructions oneDNN uses for them (AMX, AVX512-BF16/FP16, Arm BF16); never TF32.
    """
    name, device = Precision(name).name, torch.device(device)
    if name == "float32":
        return True
    if device.type == "cuda":
        major = torch.cuda.get_device_capability(device)[0]
        return name == "float16" or major >= 8
    if device.type == "cpu" and name in _CPU_FLAGS:
        return bool(_cpu_flags() & set(_CPU_FLAGS[name]))
    return False


def resolve(precision, device: torch.device | str) -> Precision:
    """The policy to use on ``device``.

    Parameters
    ----------
    precision : None, str or Precision
        ``None`` means float32.
    device : torch.device or str

    Returns
    -------
    Precision
        ``precision`` itself when it is strict or the hardware is fast in it;
        otherwise float32, with one :class:`PrecisionFallbackWarning`.
    """
    if precision is None:
        return Precision()
    if isinstance(precision, str):
        precision = Precision(precision)
    if not isinstance(precision, Precision):
        raise TypeError("precision must be None, a name such as 'bf16', or a "
                        f"harmonium.precision.Precision, got {type(precision).__name__}")
    if precision.strict or fast_products(precision.name, device):
        return precision
    warnings.warn(
        f"{torch.device(device).type} here has no fast {precision.name} matrix products "
        "(no AMX or AVX512-BF16 instructions on this CPU, or TF32 off a GPU), so the "
        "products stay in float32; Precision(name, strict=True) forces it",
        PrecisionFallbackWarning, stacklevel=3)
    return Precision(draw_bits=precision.draw_bits)


class WeightProducts:
    """The weight products of an RBM in a low-precision dtype.

    Holds ``W`` and ``W'`` in the policy's dtype, contiguous, refreshed in place when
    the master weights change. Results come back in the master dtype.

    Parameters
    ----------
    policy : Precision
        Not the default policy (float32 products need no copies).
    """

    def __init__(self, policy: Precision):
        self.policy = policy
        self._w = self._wt = None
        self._seen = None  # (version, data pointer) of the master weights last copied

    def _refresh(self, w2d: torch.Tensor) -> None:
        key = (w2d._version, w2d.data_ptr(), w2d.device)
        if key == self._seen:
            return
        dtype = self.policy.product_dtype
        if self._w is None or self._w.shape != w2d.shape or self._w.device != w2d.device:
            self._w = torch.empty(w2d.shape, dtype=dtype, device=w2d.device)
            self._wt = torch.empty(w2d.shape[::-1], dtype=dtype, device=w2d.device)
        with torch.no_grad():
            self._w.copy_(w2d)
            self._wt.copy_(w2d.T)
        self._seen = key

    def times_w(self, x: torch.Tensor, w2d: torch.Tensor) -> torch.Tensor:
        """``x W``: (batch, n_visible) -> (batch, n_hidden), in ``x``'s dtype."""
        if self.policy.product_dtype is None:  # TF32: float32 operands, TF32 engine
            return x @ w2d
        self._refresh(w2d)
        return (x.to(self._w.dtype) @ self._w).to(x.dtype)

    def times_w_transposed(self, x: torch.Tensor, w2d: torch.Tensor) -> torch.Tensor:
        """``x W'``: (batch, n_hidden) -> (batch, n_visible), in ``x``'s dtype."""
        if self.policy.product_dtype is None:
            return x @ w2d.T
        self._refresh(w2d)
        return (x.to(self._wt.dtype) @ self._wt).to(x.dtype)

    @property
    def product_dtype(self) -> torch.dtype | None:
        """The operands' dtype (``None``: float32 operands, as for TF32)."""
        return self.policy.product_dtype


def weight_gradient_(grad: torch.Tensor, states: tuple, means: tuple,
                     scales: tuple[float, float], dtype: torch.dtype | None = None) -> None:
    """``grad = scales[0] v_data' m_data + scales[1] v_model' m_model``.

    In the master dtype: two accumulating products into ``grad``. In a low-precision
    ``dtype``: one product of both halves stacked, its operands laid out for it
    (visible x rows times rows x hidden), accumulated in float32 by the engine.

    Parameters
    ----------
    grad : torch.Tensor, shape (n_visible, n_hidden)
        Overwritten.
    states : (v_data, v_model), shapes (n_data, n_visible) and (n_model, n_visible)
    means : (m_data, m_model), shapes (n_data, n_hidden) and (n_model, n_hidden)
    scales : (float, float)
    dtype : torch.dtype, optional
        The products' operand dtype; ``None``: the master dtype.
    """
    if dtype is None:
        grad.addmm_(states[0].T, means[0], beta=0, alpha=scales[0])
        grad.addmm_(states[1].T, means[1], alpha=scales[1])
        return
    lhs = torch.cat(states).T.to(dtype, memory_format=torch.contiguous_format)
    rhs = torch.cat([means[0] * scales[0], means[1] * scales[1]]).to(dtype)
    grad.copy_(lhs @ rhs)


@contextlib.contextmanager
def use_precision(model: torch.nn.Module, precision):
    """Run the weight products of every RBM in ``model`` under ``precision``.

    Parameters
    ----------
    model : torch.nn.Module
        An RBM or a model holding RBMs (a DBN); each submodule with a
        ``weight_products`` attribute takes the policy for the duration.
    precision : None, str or Precision
        Resolved for the model's device (:func:`resolve`).

    Raises
    ------
    ValueError
        A low precision for a model with no RBM weight products.
    """
    if precision is None:  # the loop's default: nothing to resolve or change
        yield Precision()
        return
    device = next(iter(model.parameters())).device
    policy = resolve(precision, device)
    if policy.is_default:
        yield policy
        return
    layers = [m for m in model.modules() if hasattr(m, "weight_products")]
    if not layers:
        raise ValueError(f"precision={policy.name!r} applies to the weight products and "
                         f"draws of RBM layers, and {type(model).__name__} has none")
    low = policy.name != "float32"
    saved = [m.weight_products for m in layers]
    tf32 = torch.backends.cuda.matmul.allow_tf32
    token = _DRAW_BITS.set(policy.draw_bits)
    try:
        for m in layers:
            m.weight_products = WeightProducts(policy) if low else None
        torch.backends.cuda.matmul.allow_tf32 = tf32 or policy.name == "tf32"
        yield policy
    finally:
        _DRAW_BITS.reset(token)
        torch.backends.cuda.matmul.allow_tf32 = tf32
        for m, products in zip(layers, saved, strict=True):
            m.weight_products = products

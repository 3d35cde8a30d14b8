"""A composite layer: several unit layers side by side, seen as one flat layer.

The top RBM of a deep belief net with labels (Hinton, Osindero and Teh 2006) has a
visible layer made of binary features *and* a softmax label unit. ``Joined(Bernoulli(500),
Categorical(1, 10))`` is that layer: a :class:`~harmonium.units.Units` of flat shape
``(510,)`` whose states are the parts' states flattened and concatenated, so every
generic RBM method (free energy, conditionals, Gibbs, CD/PCD training, exact log Z over
the hidden side) works on it unchanged.

All parts must have the same parameter names (e.g. all bias-only: Bernoulli, Spin,
Categorical). The joined layer owns one parameter tensor ``(n_params, total)``; each
part is evaluated on a view of it, so gradients and optimiser steps reach the parts.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from harmonium.units.base import Units, unit_type

__all__ = ["Joined"]


class Joined(Units):
    """Unit layers concatenated along one flat axis.

    Parameters
    ----------
    *parts : Units
        The layers, in order; their initial parameters are copied.

    Attributes
    ----------
    parts : list of (type, tuple)
        Unit type and shape of each part.

    Examples
    --------
    >>> from harmonium.units import Bernoulli, Categorical
    >>> from harmonium.units.joined import Joined
    >>> layer = Joined(Bernoulli(500), Categorical(1, 10))
    >>> layer.shape, layer.n_units
    ((510,), 501)
    """

    def __init__(self, *parts: Units):
        if len(parts) < 2:
            raise ValueError(f"Joined needs at least two unit layers, got {len(parts)}")
        for p in parts:
            if not isinstance(p, Units) or isinstance(p, Joined):
                raise TypeError(f"Joined parts must be unit layers, got {type(p).__name__}")
        names = {p.param_names for p in parts}
        if len(names) != 1:
            raise ValueError(
                "Joined parts must have the same parameters, got "
                + ", ".join(f"{type(p).__name__}{p.param_names}" for p in parts)
            )
        self.param_names = parts[0].param_names
        params = torch.cat([p.params.detach().reshape(len(self.param_names), -1)
                            for p in parts], 1)
        super().__init__((params.shape[1],), params.clone())
        self.parts = [(type(p), p.shape) for p in parts]

    # ----- layout -----------------------------------------------------------------------
    @classmethod
    def from_layout(cls, parts, params: torch.Tensor, *, requires_grad: bool = True) -> Joined:
        """A joined layer with part layout ``parts`` ((type, shape) pairs) and ``params``."""
        obj = cls.__new__(cls)
        obj.param_names = parts[0][0].param_names
        Units.__init__(obj, (params.shape[1],), params)
        obj.params.requires_grad_(requires_grad)
        obj.parts = list(parts)
        return obj

    def to_state(self) -> dict:
        """Type name, parameters and the parts' layout (type names and shapes)."""
        parts = [{"type": kind.__name__, "shape": list(shape)} for kind, shape in self.parts]
        return {**super().to_state(), "parts": parts}

    @classmethod
    def _from_state(cls, state: dict) -> Joined:
        parts = state.get("parts")
        if not isinstance(parts, list) or len(parts) < 2:
            raise ValueError("a Joined layer state needs a list of at least two parts")
        layout = [(unit_type(p["type"]), tuple(int(s) for s in p["shape"])) for p in parts]
        if sum(math.prod(shape) for _, shape in layout) != state["params"].shape[1]:
            raise ValueError("the Joined parts' sizes do not add up to its parameters")
        return cls.from_layout(layout, state["params"])

    def _slices(self):
        start = 0
        for kind, shape in self.parts:
            size = math.prod(shape)
            yield kind, shape, slice(start, start + size)
            start += size

    def views(self) -> list[Units]:
        """The parts as unit layers whose parameters are views of ``self.params``."""
        out = []
        for kind, shape, sl in self._slices():
            part = kind.__new__(kind)
            nn.Module.__init__(part)
            part.shape = shape
            part.params = self.params[:, sl].reshape(len(self.param_names), *shape)
            out.append(part)
        return out

    def split(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Split flat states or inputs (batch, total) into the parts' (batch, *shape)."""
        return [x[:, sl].reshape(x.shape[0], *shape) for _, shape, sl in self._slices()]

    def join(self, xs) -> torch.Tensor:
        """Inverse of :meth:`split`: parts' (batch, *shape) tensors -> (batch, total)."""
        return torch.cat([x.flatten(1) for x in xs], 1)

    def _map(self, method: str, x: torch.Tensor, **kwargs) -> torch.Tensor:
        return self.join([getattr(part, method)(xi, **kwargs)
                          for part, xi in zip(self.views(), self.split(x), strict=True)])

    @property
    def n_units(self) -> int:
        """Number of units (a categorical unit counts once)."""
        return sum(shape[0] for _, shape in self.parts)

    def extra_repr(self) -> str:
        return " + ".join(f"{k.__name__}{shape}" for k, shape in self.parts)

    # ----- derived layers ---------------------------------------------------------------
    def with_params(self, params: torch.Tensor) -> Joined:
        return Joined.from_layout(self.parts, params, requires_grad=False)

    def layout(self) -> tuple:
        return (Joined, tuple(self.parts))

    # ----- the interface ----------------------------------------------------------------
    def energy(self, x):
        return sum(part.energy(xi) for part, xi in zip(self.views(), self.split(x), strict=True))

    def cgf(self, inputs):
        return sum(part.cgf(xi) for part, xi in zip(self.views(), self.split(inputs), strict=True))

    def mean_from_inputs(self, inputs):
        return self._map("mean_from_inputs", inputs)

    def var_from_inputs(self, inputs):
        return self._map("var_from_inputs", inputs)

    def sample_from_inputs(self, inputs, *, generator=None):
        return self._map("sample_from_inputs", inputs, generator=generator)

    def mode_from_inputs(self, inputs):
        return self._map("mode_from_inputs", inputs)

    def check_support(self, x, name="x"):
        """Check each part; two-state parts also accept values between their states.

        Values between the two states are read as probabilities, as
        :func:`harmonium.fit` does for two-state visible layers: the features of a deep
        belief net's top layer are often the mean activities of the layer below.
        """
        for part, xi in zip(self.views(), self.split(x), strict=True):
            part.check_data(xi, name)
        return x

    check_data = check_support

    @property
    def bias_only(self) -> bool:
        return all(kind.bias_only for kind, _ in self.parts)

    def fit_independent(self, x):
        fitted = [part.fit_independent(xi)
                  for part, xi in zip(self.views(), self.split(x), strict=True)]
        params = torch.cat([f.params.reshape(len(self.param_names), -1) for f in fitted], 1)
        return Joined.from_layout(self.parts, params, requires_grad=False)

    def discretize(self, x):
        """``None``: parts of different widths have no common flip layout, so the
        pseudo-likelihood (and the training monitor's score) skips joined layers."""
        return None

    def annealing_start(self):
        return torch.cat([part.annealing_start().reshape(len(self.param_names), -1)
                          for part in self.views()], 1)

    def project_(self) -> None:
        for part in self.views():
            part.project_()

    def absorb_input_(self, d: torch.Tensor) -> None:
        """Each part absorbs its slice of ``d`` (total,) in its own way (a dReLU part
        moves both fields)."""
        for part, di in zip(self.views(), self.split(d[None]), strict=True):
            part.absorb_input_(di[0])

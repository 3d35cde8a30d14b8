"""The restricted Boltzmann machine: two unit layers and a weight matrix.

Everything here is written once, generically, over the unit interface of
:mod:`harmonium.units`:

    E(v, h) = E_vis(v) + E_hid(h) - <v, W h>
    F(v)    = E_vis(v) - cgf_hid(v W)          (p(v) = exp(-F(v)) / Z)
    F_h(h)  = E_hid(h) - cgf_vis(h W')          (p(h) = exp(-F_h(h)) / Z)

Layers may have multi-axis unit shapes (categorical units: ``(n, k)``); the weight
tensor then has shape ``visible.shape + hidden.shape`` and is used flattened.
"""

from __future__ import annotations

import torch
from torch import nn

from harmonium._numerics import as_batch, check_positive_int, generator_device
from harmonium.io import savable, state_tensor, state_value
from harmonium.units import Units

__all__ = ["RBM"]


def _schur_complement(gv: torch.Tensor, gh: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``diag(gamma_h) - W' diag(gamma_v)^-1 W``, or its twin on the smaller side.

    Positive definite iff ``[[diag(gamma_v), -W], [-W', diag(gamma_h)]]`` is (the
    precisions being positive).
    """
    if gh.numel() > gv.numel():
        gv, gh, w = gh, gv, w.T
    return torch.diag(gh) - w.T @ (w / gv[:, None])


def _positive_definite(m: torch.Tensor) -> bool:
    return torch.linalg.cholesky_ex(m).info == 0


def _unflatten(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """``(batch, prod(shape)) -> (batch, *shape)``; no view call for one-axis layers."""
    return x if len(shape) == 1 else x.view(x.shape[0], *shape)


@savable
class RBM(nn.Module):
    """Restricted Boltzmann machine over any two unit layers.

    Parameters
    ----------
    visible : Units
        Visible layer, e.g. ``Bernoulli(784)``, ``Gaussian(64)``, ``Categorical(n, 5)``.
    hidden : Units
        Hidden layer, e.g. ``Bernoulli(500)``.
    weight_std : float
        Standard deviation of the initial weights (Hinton's guide: 0.01).
    generator : torch.Generator, optional
        Source of the initial weights.

    Attributes
    ----------
    weight : torch.nn.Parameter, shape visible.shape + hidden.shape
        Couplings ``W``; for Bernoulli layers ``(n_visible, n_hidden)``.
    weight_products : harmonium.precision.WeightProducts or None
        Runs the products with ``W`` in a low precision (set for a scope by
        :func:`harmonium.precision.use_precision`); ``None``: the weights' own dtype.

    Examples
    --------
    >>> from harmonium import RBM
    >>> from harmonium.units import Bernoulli
    >>> rbm = RBM(Bernoulli(784), Bernoulli(500))
    >>> rbm.weight.shape
    torch.Size([784, 500])
    """

    def __init__(
        self,
        visible: Units,
        hidden: Units,
        *,
        weight_std: float = 0.01,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        for name, layer in (("visible", visible), ("hidden", hidden)):
            if not isinstance(layer, Units):
                raise TypeError(
                    f"{name} must be a unit layer such as harmonium.units.Bernoulli(n), "
                    f"got {type(layer).__name__}"
                )
        self.visible = visible
        self.hidden = hidden
        w = torch.randn(
            *visible.shape, *hidden.shape, generator=generator, dtype=visible.params.dtype,
            device=generator_device(generator),
        )
        self.weight = nn.Parameter(w.to(visible.params.device) * weight_std)
        self.weight_products = None

    # ----- shapes ---------------------------------------------------------------------
    @property
    def n_visible(self) -> int:
        return self.visible.n_units

    @property
    def n_hidden(self) -> int:
        return self.hidden.n_units

    def _w2d(self) -> torch.Tensor:
        """Weights as a ``(prod(visible.shape), prod(hidden.shape))`` matrix."""
        w = self.weight
        return w if w.dim() == 2 else w.reshape(self.visible.params[0].numel(), -1)

    def extra_repr(self) -> str:
        return f"weight: {tuple(self.weight.shape)}"

    # ----- fields and energies --------------------------------------------------------
    def inputs_h_from_v(self, v: torch.Tensor) -> torch.Tensor:
        """Hidden input field ``v W``, (batch, *visible.shape) -> (batch, *hidden.shape)."""
        products = self.weight_products
        if products is None:
            return _unflatten(v.flatten(1) @ self._w2d(), self.hidden.shape)
        return _unflatten(products.times_w(v.flatten(1), self._w2d()), self.hidden.shape)

    def inputs_v_from_h(self, h: torch.Tensor) -> torch.Tensor:
        """Visible input field ``h W'``, (batch, *hidden.shape) -> (batch, *visible.shape)."""
        products = self.weight_products
        if products is None:
            return _unflatten(h.flatten(1) @ self._w2d().T, self.visible.shape)
        return _unflatten(products.times_w_transposed(h.flatten(1), self._w2d()),
                          self.visible.shape)

    def interaction_energy(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """``-<v, W h>`` per sample, shape (batch,)."""
        return -(self.inputs_h_from_v(v).flatten(1) * h.flatten(1)).sum(1)

    def energy(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Joint energy ``E(v, h)``, shape (batch,)."""
        return self.visible.energy(v) + self.hidden.energy(h) + self.interaction_energy(v, h)

    def free_energy(self, v) -> torch.Tensor:
        """Free energy of visible states, ``F(v) = -log sum_h exp(-E(v, h))``.

        Parameters
        ----------
        v : array-like, shape (batch, *visible.shape)

        Returns
        -------
        torch.Tensor, shape (batch,)
            ``p(v) = exp(-F(v)) / Z``; lower is more probable (an anomaly score).
        """
        return self.free_energy_visible(self.check_visible(v))

    def free_energy_visible(self, v: torch.Tensor) -> torch.Tensor:
        """:meth:`free_energy` without input validation (for inner loops), shape (batch,)."""
        return self.visible.energy(v) - self.hidden.cgf(self.inputs_h_from_v(v))

    def free_energy_hidden(self, h: torch.Tensor) -> torch.Tensor:
        """Free energy of hidden states, ``-log sum_v exp(-E(v, h))``, shape (batch,)."""
        return self.hidden.energy(h) - self.visible.cgf(self.inputs_v_from_h(h))

    # ----- conditionals ---------------------------------------------------------------
    def mean_h_from_v(self, v: torch.Tensor) -> torch.Tensor:
        """``E[h | v]``, shape (batch, *hidden.shape)."""
        return self.hidden.mean_from_inputs(self.inputs_h_from_v(v))

    def sample_h_from_v(self, v: torch.Tensor, *, generator=None) -> torch.Tensor:
        """Draw ``h ~ p(h | v)``, shape (batch, *hidden.shape)."""
        return self.hidden.sample_from_inputs(self.inputs_h_from_v(v), generator=generator)

    def mean_v_from_h(self, h: torch.Tensor) -> torch.Tensor:
        """``E[v | h]``, shape (batch, *visible.shape)."""
        return self.visible.mean_from_inputs(self.inputs_v_from_h(h))

    def sample_v_from_h(self, h: torch.Tensor, *, generator=None) -> torch.Tensor:
        """Draw ``v ~ p(v | h)``, shape (batch, *visible.shape)."""
        return self.visible.sample_from_inputs(self.inputs_v_from_h(h), generator=generator)

    @torch.no_grad()
    def gibbs(self, v: torch.Tensor, steps: int = 1, *, generator=None) -> torch.Tensor:
        """Run ``steps`` block-Gibbs sweeps ``v -> h -> v``.

        Parameters
        ----------
        v : torch.Tensor, shape (batch, *visible.shape)
            Initial visible states.
        steps : int
            Number of sweeps (>= 1).
        generator : torch.Generator, optional

        Returns
        -------
        torch.Tensor, shape (batch, *visible.shape)
        """
        steps = check_positive_int(steps, "steps")
        self.check_proper()
        for _ in range(steps):
            v = self.sample_v_from_h(
                self.sample_h_from_v(v, generator=generator), generator=generator
            )
        return v

    @torch.no_grad()
    def check_proper(self) -> None:
        """Raise ``ValueError`` unless ``exp(-E(v, h))`` can be normalised (and sampled).

        Always true when one layer is bounded. With unbounded quadratic units on both
        sides (Gaussian-Gaussian), the joint is a Gaussian with precision matrix
        ``[[diag(gamma_v), -W], [-W', diag(gamma_h)]]``; it is proper iff that matrix is
        positive definite, i.e. iff the precisions are positive and the Schur
        complement ``diag(gamma_h) - W' diag(gamma_v)^-1 W`` (or its twin on the
        visible side, whichever is smaller) is positive definite. Otherwise Gibbs
        chains grow without bound and end in infinities and NaN.

        Units whose precision differs on the two sides of zero (dReLU, pReLU, xReLU)
        give each unit a range (:meth:`~harmonium.units.Units.precision_range`). The
        joint is proper when the matrix is positive definite with the smaller
        precisions, and improper (this raises) when it is indefinite even with the
        larger ones: its direction of non-positive curvature, or its negative, then
        has non-positive energy curvature whatever signs it takes. In between,
        propriety depends on those signs and is not decided here (no error).

        Raises
        ------
        ValueError
            Naming the smallest eigenvalue and the remedy.
        """
        ranges = self.visible.precision_range(), self.hidden.precision_range()
        if ranges[0] is None or ranges[1] is None:
            return
        (low_v, high_v), (low_h, high_h) = ranges
        w = self._w2d().detach()
        if bool((low_v <= 0).any() or (low_h <= 0).any()):
            reason = f"a precision is {min(low_v.min().item(), low_h.min().item()):.4g} <= 0"
        elif _positive_definite(_schur_complement(low_v, low_h, w)):
            return
        else:
            schur = _schur_complement(high_v, high_h, w)
            if _positive_definite(schur):
                return  # proper or not depending on the signs: not decided here
            reason = (f"the couplings are too strong for the precisions (the Schur "
                      f"complement's smallest eigenvalue is "
                      f"{torch.linalg.eigvalsh(schur).min().item():.4g})")
        raise ValueError(
            "this RBM's joint distribution is improper, so it cannot be sampled (Gibbs "
            "chains would run off to infinity): with unbounded real units on both layers "
            "[[diag(gamma_v), -W], [-W', diag(gamma_h)]] must be positive definite, but "
            f"{reason}. Shrink the weights (weight decay, a smaller learning rate) or "
            "raise the precisions."
        )

    # ----- derived models -------------------------------------------------------------
    def scaled(self, beta: float) -> RBM:
        """The RBM with energy ``beta * E(v, h)`` (inverse temperature; detached copy)."""
        return self._assemble(
            self.visible.scaled(beta), self.hidden.scaled(beta), self.weight.detach() * beta
        )

    def annealed_from(self, base_visible: Units, beta: float) -> RBM:
        """The AIS path model ``exp(-(1 - beta) E_base(v) - beta E(v, h))`` (detached).

        ``base_visible`` is a visible layer of the same type (the independent-units
        base-rate model); at ``beta = 0`` hidden units are free and independent, with
        zero bias and their other parameters (a Gaussian precision) kept, so every
        model on the path is proper (:meth:`~harmonium.units.Units.annealing_start`).
        """
        hidden = self.hidden
        return self._assemble(
            self.visible.mixed(base_visible, beta),
            hidden.mixed(hidden.with_params(hidden.annealing_start()), beta),
            self.weight.detach() * beta,
        )

    @staticmethod
    def _assemble(
        visible: Units, hidden: Units, weight: torch.Tensor, *, requires_grad: bool = False
    ) -> RBM:
        rbm = RBM.__new__(RBM)
        nn.Module.__init__(rbm)
        rbm.visible, rbm.hidden = visible, hidden
        rbm.weight = nn.Parameter(weight, requires_grad=requires_grad)
        rbm.weight_products = None
        return rbm

    def project_(self) -> None:
        """Move parameters back into their valid domains (after an optimiser step).

        Weights to a layer with a gauge (Potts units: zero sums over each unit's
        states) are moved into it first, the other layer absorbing the constant
        input change (:meth:`~harmonium.units.Units.gauge_weights_`), so the
        distribution is unchanged.
        """
        with torch.no_grad():
            nv = len(self.visible.shape)
            hidden_first = self.weight.movedim(tuple(range(nv)), tuple(range(-nv, 0)))
            for layer, other, w in ((self.visible, self.hidden, self.weight),
                                    (self.hidden, self.visible, hidden_first)):
                d = layer.gauge_weights_(w)
                if d is not None:
                    other.absorb_input_(d)
        self.visible.project_()
        self.hidden.project_()

    # ----- validation -----------------------------------------------------------------
    def check_visible(self, v, name: str = "v", *, probabilities: bool = False) -> torch.Tensor:
        """Validate visible states and return them as a tensor on the model's device.

        With ``probabilities=True`` two-state units also accept values between their
        states (training data read as probabilities, see
        :meth:`~harmonium.units.Units.check_data`).

        Raises ``ValueError`` for a wrong shape, NaN/inf or values outside the visible
        units' support; ``TypeError`` for non-numeric input.
        """
        x = self._check_shape(v, self.visible, name)
        if probabilities:
            return self.visible.check_data(x, name)
        return self.visible.check_support(x, name)

    def _check_shape(self, x, layer: Units, name: str) -> torch.Tensor:
        p = layer.params
        if len(layer.shape) == 1:
            x = as_batch(x, name, n_features=layer.shape[0], dtype=p.dtype, device=p.device)
        else:
            if not isinstance(x, torch.Tensor):
                x = torch.as_tensor(x)
            x = x.to(dtype=p.dtype, device=p.device)
            if tuple(x.shape[1:]) != layer.shape or x.shape[0] == 0:
                raise ValueError(
                    f"{name} must have shape (n_samples, {', '.join(map(str, layer.shape))}) "
                    f"with n_samples >= 1, got {tuple(x.shape)}"
                )
            if not torch.isfinite(x).all():
                raise ValueError(f"{name} contains NaN or infinite values")
        return x

    # ----- saving ---------------------------------------------------------------------
    def _to_state(self) -> dict:
        return {
            "visible": self.visible.to_state(),
            "hidden": self.hidden.to_state(),
            "weight": self.weight,
        }

    @classmethod
    def _from_state(cls, state: dict) -> RBM:
        layers = []
        for name in ("visible", "hidden"):
            try:
                layers.append(Units.layer_from_state(state_value(state, name, dict,
                                                                 owner="RBM")))
            except ValueError as exc:
                raise ValueError(f"the {name} layer: {exc}") from None
        dtype = layers[0].params.dtype
        if layers[1].params.dtype != dtype:
            raise ValueError(f"the RBM's layers must share one dtype, got {dtype} and "
                             f"{layers[1].params.dtype}")
        weight = state_tensor(state, "weight", (*layers[0].shape, *layers[1].shape),
                              owner="RBM", dtype=dtype)
        return cls._assemble(*layers, weight, requires_grad=True)

"""Negative-phase estimators for RBM training: contrastive divergence and persistent CD.

The training-method protocol
----------------------------
:func:`harmonium.fit` asks a method for *negative-phase visible samples* once per
mini-batch; everything else (the free-energy gradient, the transforms, the optimiser,
checkpoints) is the training loop's job. A method's whole persistent state is what its
``state_dict`` returns; the loop saves it in checkpoints and restores it on resume. A
method is any object with three methods:

``negative(rbm, v_data, inputs_h, *, generator) -> v_model``
    ``v_data`` is the mini-batch, shape ``(batch, *visible.shape)``; ``inputs_h`` is its
    hidden input field ``rbm.inputs_h_from_v(v_data)``, shape ``(batch, *hidden.shape)``,
    already computed by the fit loop (reuse it instead of repeating the matrix
    product). Return visible samples from (an approximation of) the model, shape
    ``(n_model, *visible.shape)``, any ``n_model >= 1``, detached, on the model's
    device and dtype. Called under ``torch.no_grad()``; all randomness must come from
    ``generator``.
``state_dict() -> dict``
    The method's persistent state (chains), a dict of tensors and JSON values, saved
    in checkpoints. Stateless methods return ``{}``.
``load_state_dict(state) -> None``
    Restore what :meth:`state_dict` returned (resuming bit for bit).

Optionally, ``transforms``: a tuple of gradient transforms the method needs (see
:mod:`harmonium.training.transforms`); :func:`harmonium.fit` runs them first, e.g.
:class:`~harmonium.training.centering.Centered` brings a ``Centering``.

Methods are validated and bound to a model lazily (persistent chains are created on the
first call), so one object describes a method and carries its chains.
"""

from __future__ import annotations

import torch

from harmonium import parallel
from harmonium._numerics import check_positive_int

__all__ = ["CD", "PCD"]


class CD:
    """Contrastive divergence CD-k (Hinton 2002).

    The negative sample is ``k`` block-Gibbs sweeps started at the data: the first
    hidden sample is drawn from the data's own hidden field, so CD-1 costs one
    ``v -> h -> v`` sweep on top of the positive phase.

    Parameters
    ----------
    k : int
        Number of Gibbs sweeps (>= 1).

    Examples
    --------
    >>> from harmonium import CD
    >>> CD(1)
    CD(k=1)
    """

    def __init__(self, k: int = 1):
        self.k = check_positive_int(k, "k")

    def __repr__(self) -> str:
        return f"CD(k={self.k})"

    @torch.no_grad()
    def negative(self, rbm, v_data, inputs_h, *, generator=None):
        """``k`` Gibbs sweeps from the data; shape ``(batch, *visible.shape)``."""
        h = rbm.hidden.sample_from_inputs(inputs_h, generator=generator)
        v = rbm.sample_v_from_h(h, generator=generator)
        for _ in range(self.k - 1):
            h = rbm.sample_h_from_v(v, generator=generator)
            v = rbm.sample_v_from_h(h, generator=generator)
        return v

    def state_dict(self) -> dict:
        """CD keeps no state between mini-batches: ``{}``."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Nothing to restore (accepts the empty dict of :meth:`state_dict`)."""
        if state:
            raise ValueError(f"CD has no state to load, got keys {sorted(state)}")


class PCD:
    """Persistent contrastive divergence (Tieleman 2008).

    ``n_chains`` fantasy particles persist across mini-batches; each call advances
    them by ``k`` block-Gibbs sweeps under the current parameters and returns them.
    The chains start from independent draws of the visible units' bias-only
    distribution on the first call (or from :meth:`load_state_dict`).

    Parameters
    ----------
    n_chains : int, optional
        Number of persistent chains (default: the mini-batch size of the first call).
    k : int
        Gibbs sweeps per parameter update (>= 1).

    Attributes
    ----------
    chains : torch.Tensor or None, shape (n_chains, *visible.shape)
        The current fantasy particles.
    """

    def __init__(self, n_chains: int | None = None, k: int = 1):
        self.n_chains = None if n_chains is None else check_positive_int(n_chains, "n_chains")
        self.k = check_positive_int(k, "k")
        self.chains: torch.Tensor | None = None

    def __repr__(self) -> str:
        return f"PCD(n_chains={self.n_chains}, k={self.k})"

    @torch.no_grad()
    def negative(self, rbm, v_data, inputs_h, *, generator=None):
        """Advance the persistent chains by ``k`` sweeps; shape ``(n_chains, *visible.shape)``.

        Under ``torch.distributed`` each rank advances its shard of the chains
        (:func:`harmonium.parallel.row_shard`) with its slice of the global draws.
        """
        v, p = self.chains, rbm.visible.params
        if v is None or tuple(v.shape[1:]) != rbm.visible.shape:
            if self.n_chains is None:  # the global batch size of the first call
                self.n_chains = parallel.global_rows(v_data.shape[0])[0]
            shard = parallel.row_shard(self.n_chains)
            zeros = torch.zeros((shard.local, *rbm.visible.shape), dtype=p.dtype,
                                device=p.device)
            with parallel.draw_rows(shard):
                v = rbm.visible.sample_from_inputs(zeros, generator=generator)
        elif v.device != p.device or v.dtype != p.dtype:
            v = v.to(device=p.device, dtype=p.dtype)
        with parallel.draw_rows(parallel.row_shard(self.n_chains)):
            for _ in range(self.k):
                h = rbm.sample_h_from_v(v, generator=generator)
                v = rbm.sample_v_from_h(h, generator=generator)
        self.chains = v
        return v

    def state_dict(self) -> dict:
        """``{"chains": tensor}`` once chains exist (all of them, gathered from the
        data-parallel ranks), else ``{}``."""
        if self.chains is None:
            return {}
        return {"chains": parallel.gather_rows(self.chains, self.n_chains)}

    def load_state_dict(self, state: dict) -> None:
        """Restore chains saved by :meth:`state_dict`."""
        chains = state.get("chains")
        if chains is not None and not isinstance(chains, torch.Tensor):
            raise TypeError(f"PCD chains must be a tensor, got {type(chains).__name__}")
        self.chains = None if chains is None else parallel.local_rows(chains).clone()
        if chains is not None:
            self.n_chains = chains.shape[0]

"""Boltzmann machines built from other models: a Hopfield network, an RBM.

Both copy the other model's couplings and biases into a new machine of the same
dtype and device; the machine's class is passed in, so this module does not import it.
"""

from __future__ import annotations

import torch

from harmonium.models._boltzmann_structure import UNIT_TYPES, bipartite_mask, units_name_of

__all__ = ["machine_from_hopfield", "machine_from_rbm"]


def machine_from_hopfield(cls, net, temperature: float = 1.0):
    """A spin machine ``cls`` without hidden units holding ``net``'s weights and biases.

    Parameters
    ----------
    cls : type
        The Boltzmann machine class.
    net : object with ``weight`` (d, d) and ``bias`` (d,) tensors
        A Hopfield network.
    temperature : float
    """
    weight, bias = getattr(net, "weight", None), getattr(net, "bias", None)
    if not (isinstance(weight, torch.Tensor) and isinstance(bias, torch.Tensor)):
        raise TypeError(f"expected a HopfieldNetwork, got {type(net).__name__}")
    d = weight.shape[0]
    bm = cls(d, 0, "spin", temperature, weight_std=0.0, dtype=weight.dtype)
    with torch.no_grad():
        bm.weight.copy_(weight)
        bm.weight.fill_diagonal_(0)
        bm.layer.params[0].copy_(bias)
    return bm.to(weight.device)


def _rbm_units(rbm) -> str:
    """The machine's ``units`` option for an RBM whose two layers have the same states."""
    vis, hid = getattr(rbm, "visible", None), getattr(rbm, "hidden", None)
    name = units_name_of(vis)
    if name is None or units_name_of(hid) != name:
        wanted = " or both ".join(kind.__name__ for kind in UNIT_TYPES.values())
        raise TypeError(
            f"from_rbm needs an RBM whose layers are both {wanted}, got "
            f"{type(vis).__name__} and {type(hid).__name__}"
        )
    return name


def machine_from_rbm(cls, rbm):
    """The machine ``cls`` with an RBM's weights, biases and bipartite connectivity.

    Parameters
    ----------
    cls : type
        The Boltzmann machine class.
    rbm : harmonium.RBM
        Both layers two-state units with the same states (binary or spin).
    """
    units = _rbm_units(rbm)
    nv, nh = rbm.n_visible, rbm.n_hidden
    w = rbm.weight.detach()
    bm = cls(nv, nh, units, connectivity=bipartite_mask(nv, nh), weight_std=0.0,
             dtype=w.dtype)
    with torch.no_grad():
        bm.weight[:nv, nv:] = w
        bm.weight[nv:, :nv] = w.T
        bm.layer.params[0].copy_(torch.cat([rbm.visible.bias, rbm.hidden.bias]))
    return bm.to(w.device)

"""Loading a DBN's tensors: each checked against the shape the DBN's config implies."""

from __future__ import annotations

import torch
from torch import nn

from harmonium.io import state_tensor, state_value

__all__ = ["check_weight_shapes", "rbm_tensors", "saved_classifier", "saved_rbms"]


def check_weight_shapes(state: dict, sizes: list, n_labels: int) -> torch.Tensor:
    """Check the stored weights against ``layer_sizes`` before a DBN of them is built.

    The weights are the bulk of a DBN, so a config whose sizes the file's tensors do not
    pay for is refused before anything is allocated. Returns the first weight.
    """
    saved = state_value(state, "rbms", list, owner="DBN")
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in sizes) or (
            len(saved) != len(sizes) - 1 or not saved):
        raise ValueError(f"the DBN state's 'layer_sizes' must be integers, one more than its "
                         f"{len(saved)} RBMs, got {str(sizes)[:60]}")
    weights = []
    for i, entry in enumerate(saved):
        rows = sizes[i] + (n_labels if n_labels and i == len(saved) - 1 else 0)
        weights.append(state_tensor(entry, "weight", (rows, sizes[i + 1]),
                                    owner=f"DBN RBM {i}"))
    return weights[0]


def rbm_tensors(rbm) -> dict[str, torch.Tensor]:
    """The tensors of one RBM of a DBN as its file stores them."""
    return {"visible": rbm.visible.params, "hidden": rbm.hidden.params, "weight": rbm.weight}


def saved_rbms(state: dict, dbn) -> list[dict[str, torch.Tensor]]:
    """The stored RBM tensors, checked against the shapes of ``dbn``'s RBMs (any device)."""
    saved = state_value(state, "rbms", list, owner="DBN")
    if len(saved) != len(dbn.rbms):
        raise ValueError(f"the DBN state holds {len(saved)} RBMs for {len(dbn.rbms)} layers")
    dtype = None
    out = []
    for i, (rbm, entry) in enumerate(zip(dbn.rbms, saved, strict=True)):
        tensors = {}
        for key, param in rbm_tensors(rbm).items():
            tensors[key] = state_tensor(entry, key, tuple(param.shape), owner=f"DBN RBM {i}",
                                        dtype=dtype)
            dtype = tensors[key].dtype
        out.append(tensors)
    return out


def saved_classifier(state: dict, dbn) -> nn.Sequential:
    """The fine-tuned network stored with ``dbn``, its shapes checked before copying."""
    saved = state_value(state, "classifier", list, owner="DBN")
    if not saved:
        raise ValueError("the DBN state's 'classifier' is an empty list")
    dtype = dbn.rbms[0].weight.dtype
    n_classes = state_tensor(saved[-1], "weight", (None, None), owner="DBN classifier",
                             dtype=dtype).shape[0]
    if n_classes < 1 or (dbn.n_labels and n_classes != dbn.n_labels):
        raise ValueError(f"the DBN classifier has {n_classes} outputs for "
                         f"{dbn.n_labels or 'at least 1'} classes")
    net = dbn.to_sequential(n_classes if not dbn.n_labels else None)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    if len(saved) != len(linears):
        raise ValueError(f"the DBN classifier holds {len(saved)} layers, expected "
                         f"{len(linears)}")
    with torch.no_grad():
        for i, (lin, entry) in enumerate(zip(linears, saved, strict=True)):
            for key in ("weight", "bias"):
                param = getattr(lin, key)
                param.copy_(state_tensor(entry, key, tuple(param.shape),
                                         owner=f"DBN classifier layer {i}", dtype=dtype))
    return net

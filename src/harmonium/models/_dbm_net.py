"""A DBM unrolled into a classifier whose input is augmented by mean field.

Salakhutdinov and Hinton (2009, section 4): for each input ``v`` the mean-field means
``mu_2 ... mu_L`` of the DBM's hidden layers above the first are computed once and
fed to a feed-forward net as extra inputs; layer ``k`` of the net receives its input
from below and, below the top, the fixed top-down input ``W_k mu_{k+1}``:

    h_1 = mean_1(v W_0 + W_1 mu_2),  h_2 = mean_2(h_1 W_1 + W_2 mu_3),  ...,
    h_L = mean_L(h_{L-1} W_{L-1}),   logits = h_L A + c

initialised from the DBM (bottom-up and top-down copies of each weight, the hidden
layers' own parameters) with a small random output layer, then trained by
backpropagation (:func:`harmonium.training.dbm.fine_tune_dbm`). The activation of each
layer is its unit type's conditional mean (the sigmoid for Bernoulli units).
"""

from __future__ import annotations

import torch
from torch import nn

from harmonium.io import state_tensor

__all__ = ["MeanFieldAugmentedNet", "augment", "classifier_from_state"]


def _linear(weight: torch.Tensor, bias: bool = False) -> nn.Linear:
    """A linear map ``x -> x weight'`` holding a copy of ``weight`` (out, in)."""
    lin = nn.Linear(weight.shape[1], weight.shape[0], bias=bias, dtype=weight.dtype,
                    device=weight.device)
    with torch.no_grad():
        lin.weight.copy_(weight)
    return lin


class MeanFieldAugmentedNet(nn.Module):
    """The mean-field-augmented network of a DBM (see the module docstring).

    Parameters
    ----------
    dbm : harmonium.DBM
        Source of the initial weights and hidden-layer parameters (copied).
    n_classes : int
        Width of the softmax output.
    generator : torch.Generator, optional
        Source of the initial output weights (normal, std 0.01).

    Inputs are :func:`augment`'s rows: ``v`` flattened, then ``mu_2 ... mu_L``.
    """

    def __init__(self, dbm, n_classes: int, *, generator: torch.Generator | None = None):
        super().__init__()
        layers = dbm.layers
        weights = [w.detach().reshape(layers[k].params[0].numel(), -1)  # (n_k, n_{k+1})
                   for k, w in enumerate(dbm.weights)]
        self.part_sizes = [layers[0].params[0].numel(),
                           *(layer.params[0].numel() for layer in layers[2:])]
        self.up = nn.ModuleList(_linear(w.T) for w in weights)
        self.down = nn.ModuleList(_linear(w) for w in weights[1:])
        units = []
        for layer in layers[1:]:
            copy = layer.with_params(layer.params.detach().clone())
            copy.params.requires_grad_(True)
            units.append(copy)
        self.units = nn.ModuleList(units)
        top = weights[-1]
        self.out = nn.Linear(top.shape[1], n_classes, dtype=top.dtype, device=top.device)
        with torch.no_grad():
            self.out.weight.normal_(0.0, 0.01, generator=generator)
            self.out.bias.zero_()

    @property
    def n_classes(self) -> int:
        return self.out.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, (batch, sum(part_sizes)) -> (batch, n_classes)."""
        parts = x.split(self.part_sizes, 1)
        h = parts[0]
        for k, units in enumerate(self.units):
            field = self.up[k](h)
            if k < len(self.down):
                field = field + self.down[k](parts[k + 1])
            h = units.mean_from_inputs(field.view(-1, *units.shape)).flatten(1)
        return self.out(h)


@torch.no_grad()
def augment(dbm, v: torch.Tensor, steps: int) -> torch.Tensor:
    """``[v, mu_2, ..., mu_L]`` flattened side by side, (batch, net input width).

    ``v`` is validated already; ``steps`` bounds the mean-field rounds.
    """
    means = dbm.mean_field_fields(v, steps, 1e-4)[1]
    return torch.cat([v.flatten(1), *(m.flatten(1) for m in means[2:])], 1)


def classifier_from_state(dbm, tensors) -> MeanFieldAugmentedNet:
    """Rebuild a saved :class:`MeanFieldAugmentedNet` of ``dbm`` from its state dict.

    Raises
    ------
    ValueError
        If a tensor is missing or has another shape or dtype than the net needs.
    """
    owner = "DBM classifier"
    out = state_tensor(tensors, "out.weight", (None, dbm.layers[-1].params[0].numel()),
                       owner=owner, dtype=dbm.weights[0].dtype)
    if out.shape[0] < 2:
        raise ValueError(f"the {owner} needs at least 2 classes, got {out.shape[0]}")
    net = MeanFieldAugmentedNet(dbm, out.shape[0])
    expected = net.state_dict()
    if set(tensors) != set(expected):
        raise ValueError(f"the {owner} state must hold {sorted(expected)}, "
                         f"got {sorted(tensors)}")
    net.load_state_dict({key: state_tensor(tensors, key, tuple(t.shape), owner=owner,
                                           dtype=t.dtype) for key, t in expected.items()})
    return net

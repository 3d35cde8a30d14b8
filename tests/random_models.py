"""Random small models shared by the enumeration tests."""

import torch

from harmonium import RBM
from harmonium.units import Gaussian


def random_rbm(visible, hidden, *, seed=0, scale=0.5):
    """A float64 RBM with N(0, scale^2) weights, N(0, 1) biases and, for Gaussian
    visible units, precisions in [1.5, 2.5]."""
    g = torch.Generator().manual_seed(seed)
    rbm = RBM(visible, hidden, weight_std=scale, generator=g).double()
    with torch.no_grad():
        for layer in (rbm.visible, rbm.hidden):
            layer.params[0].copy_(torch.randn(layer.shape, generator=g))
        if isinstance(rbm.visible, Gaussian):
            rbm.visible.params[1] = 1.5 + torch.rand(rbm.visible.shape, generator=g)
    return rbm


def random_spins(n, d, seed, dtype=torch.float32):
    """``n`` uniformly random +1/-1 patterns of width ``d``, shape (n, d)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (n, d), generator=g).to(dtype) * 2 - 1


def flip_bits(x, frac, seed):
    """Copy of ``x`` with each entry negated independently with probability ``frac``."""
    g = torch.Generator().manual_seed(seed)
    out = x.clone()
    out[torch.rand(x.shape, generator=g) < frac] *= -1
    return out

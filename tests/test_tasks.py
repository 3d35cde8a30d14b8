"""generate and inpaint against exact distributions of tiny RBMs."""

import pytest
import torch

import harmonium
from harmonium import RBM
from harmonium.units import Bernoulli, Categorical


def _rbm(seed=0):
    g = torch.Generator().manual_seed(seed)
    rbm = RBM(Bernoulli(4), Bernoulli(3), weight_std=1.0, generator=g).double()
    with torch.no_grad():
        rbm.visible.params[0].copy_(torch.randn(4, generator=g))
        rbm.hidden.params[0].copy_(torch.randn(3, generator=g))
    return rbm


def _codes(v):
    return (v * 2 ** torch.arange(v.shape[1] - 1, -1, -1, dtype=v.dtype)).sum(1).long()


def test_generate_matches_exact_distribution():
    rbm = _rbm()
    states = torch.cat(list(rbm.visible.enumerate_states()))  # index = binary code
    p = torch.softmax(-rbm.free_energy(states), 0)
    n = 20000
    v = harmonium.generate(rbm, n, 30, generator=torch.Generator().manual_seed(1))
    freq = torch.bincount(_codes(v), minlength=16).double() / n
    # 5 standard errors per state
    assert ((freq - p).abs() <= 5 * (p * (1 - p) / n).sqrt() + 1e-3).all()


def test_generate_is_reproducible_and_accepts_init():
    rbm = _rbm()
    a = harmonium.generate(rbm, 5, 3, generator=torch.Generator().manual_seed(0))
    b = harmonium.generate(rbm, 5, 3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    m = harmonium.generate(rbm, 0, 2, init=a, mean=True, generator=torch.Generator())
    assert m.shape == (5, 4) and ((m > 0) & (m < 1)).all()


def test_inpaint_samples_the_exact_conditional():
    rbm = _rbm()
    states = torch.cat(list(rbm.visible.enumerate_states()))
    observed = torch.tensor([1.0, 0.0], dtype=torch.float64)  # units 0, 1 observed
    keep = (states[:, :2] == observed).all(1)
    p = torch.softmax(-rbm.free_energy(states[keep]), 0)  # over units 2, 3
    n = 20000
    v = torch.full((n, 4), float("nan"), dtype=torch.float64)
    v[:, :2] = observed
    mask = torch.tensor([True, True, False, False])
    out = harmonium.inpaint(rbm, v, mask, 30, generator=torch.Generator().manual_seed(2))
    assert (out[:, :2] == observed).all()
    freq = torch.bincount(_codes(out[:, 2:]), minlength=4).double() / n
    assert ((freq - p).abs() <= 5 * (p * (1 - p) / n).sqrt() + 1e-3).all()


def test_inpaint_mean_field_is_deterministic_and_clamps():
    rbm = _rbm()
    v = torch.tensor([[1.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    mask = torch.tensor([[True, False, True, False]])
    a = harmonium.inpaint(rbm, v, mask, 20, mean_field=True)
    b = harmonium.inpaint(rbm, v, mask, 20, mean_field=True)
    assert torch.equal(a, b) and a[0, 0] == 1 and a[0, 2] == 0
    assert 0 < a[0, 1] < 1


def test_inpaint_categorical_with_per_unit_mask():
    rbm = RBM(Categorical(3, 4), Bernoulli(2), generator=torch.Generator().manual_seed(0))
    v = torch.nn.functional.one_hot(torch.tensor([[0, 1, 2]]), 4).float()
    out = harmonium.inpaint(rbm, v, torch.tensor([[True, False, True]]), 5,
                            generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[:, [0, 2]], v[:, [0, 2]]) and (out.sum(-1) == 1).all()


@pytest.mark.parametrize(
    ("v", "mask", "error", "match"),
    [
        (torch.zeros(2, 4), torch.ones(2, 3, dtype=torch.bool), ValueError, "mask must have"),
        (torch.zeros(2, 4), torch.ones(2, 4), TypeError, "boolean"),
        (torch.full((2, 4), 0.5), torch.ones(2, 4, dtype=torch.bool), ValueError, "0 and 1"),
        (torch.full((2, 4), float("nan")), torch.ones(2, 4, dtype=torch.bool), ValueError, "NaN"),
        (torch.zeros(2, 5), torch.ones(2, 5, dtype=torch.bool), ValueError, "shape"),
    ],
)
def test_inpaint_bad_input(v, mask, error, match):
    with pytest.raises(error, match=match):
        harmonium.inpaint(_rbm().float(), v, mask, 2)


def test_bad_steps_and_n():
    rbm = _rbm()
    with pytest.raises(ValueError, match="steps"):
        harmonium.generate(rbm, 2, 0)
    with pytest.raises(ValueError, match="n must"):
        harmonium.generate(rbm, 0, 2)
    with pytest.raises(ValueError, match="steps"):
        harmonium.inpaint(rbm, torch.zeros(1, 4), torch.ones(4, dtype=torch.bool), 0)
    with pytest.raises(ValueError, match="0 and 1"):
        harmonium.generate(rbm, 1, 1, init=torch.full((1, 4), 2.0))


@pytest.mark.parametrize("shape", [(3,), (1, 3), (2, 3), (3, 3), (1, 3, 3), (2, 3, 3)])
def test_inpaint_categorical_mask_forms_broadcast_over_categories(shape):
    # Categorical(3, 3): n_units == k, so a misplaced axis would go unnoticed by shape
    rbm = RBM(Categorical(3, 3), Bernoulli(2), generator=torch.Generator().manual_seed(0))
    v = torch.nn.functional.one_hot(torch.tensor([[0, 1, 2], [2, 2, 0]]), 3).float()
    per_unit = torch.tensor([True, False, True])  # unit 1 hidden, in every sample
    per_value = per_unit[:, None].expand(3, 3)
    mask = (per_value if shape[-2:] == (3, 3) else per_unit).expand(shape)
    out = harmonium.inpaint(rbm, v, mask, 3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[:, [0, 2]], v[:, [0, 2]]) and (out.sum(-1) == 1).all()


@pytest.mark.parametrize(("mask", "match"), [
    (torch.ones(4, dtype=torch.bool), r"mask must have shape \(3,\) .* got \(4,\)"),
    (torch.ones(3, 2, dtype=torch.bool), r"got \(3, 2\)"),
    (torch.eye(3, dtype=torch.bool), "all the values of a unit"),
])
def test_inpaint_categorical_bad_mask_blames_the_mask(mask, match):
    rbm = RBM(Categorical(3, 3), Bernoulli(2), generator=torch.Generator().manual_seed(0))
    v = torch.nn.functional.one_hot(torch.tensor([[0, 1, 2], [2, 2, 0]]), 3).float()
    with pytest.raises(ValueError, match=match):
        harmonium.inpaint(rbm, v, mask, 3)

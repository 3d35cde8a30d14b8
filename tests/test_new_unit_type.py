"""A unit type defined here, in a test file, works everywhere with no other change.

``Ternary`` units take the states {-1, 0, +1} with ``E(x) = -theta x``. Defining the
class (one small file's worth of code) is all it takes to train an RBM over them, sample
it, score it by pseudo-likelihood, save and load it, and estimate its ``log Z`` by AIS:
the checks below compare each against enumeration.
"""

import math

import pytest
import torch

import harmonium
from harmonium import PCD, RBM
from harmonium.partition import ais, log_likelihood_exact, log_partition_exact
from harmonium.partition.pseudo import pseudo_log_likelihood
from harmonium.training.gradient import compute_gradients
from harmonium.units import Bernoulli, Units
from harmonium.units.base import unit_type

STATES = (-1.0, 0.0, 1.0)


class Ternary(Units):
    """``n`` units with states {-1, 0, +1} and ``E(x) = -theta x``."""

    bias_only = True

    def __init__(self, n: int):
        super().__init__((n,), torch.zeros(1, n))

    def _logits(self, inputs):  # log-weights of the states -1, 0, +1: (batch, n, 3)
        field = inputs + self.params[0]
        return torch.stack([-field, torch.zeros_like(field), field], -1)

    def cgf(self, inputs):
        return torch.logsumexp(self._logits(inputs), -1).sum(1)

    def _values(self, like):
        return torch.tensor(STATES, dtype=like.dtype, device=like.device)

    def mean_from_inputs(self, inputs):
        return torch.softmax(self._logits(inputs), -1) @ self._values(inputs)

    def var_from_inputs(self, inputs):
        p = torch.softmax(self._logits(inputs), -1)
        return p @ self._values(inputs).square() - (p @ self._values(inputs)).square()

    def sample_from_inputs(self, inputs, *, generator=None):
        p = torch.softmax(self._logits(inputs), -1)
        u = torch.rand(inputs.shape, generator=generator, dtype=inputs.dtype,
                       device=inputs.device)
        return (u[..., None] > p.cumsum(-1)[..., :2]).sum(-1).to(inputs.dtype) - 1.0

    def mode_from_inputs(self, inputs):
        return self._logits(inputs).argmax(-1).to(inputs.dtype) - 1.0

    def check_support(self, x, name="x"):
        if not ((x == -1) | (x == 0) | (x == 1)).all():
            raise ValueError(f"{name} must contain only -1, 0 and 1 for Ternary units")
        return x

    def n_states_per_unit(self):
        return 3

    def states_from_indices(self, idx):
        return self._values(self.params)[idx]

    def discretize(self, x):
        return x.round().clamp(-1, 1)

    def flip_deltas(self, x):
        values = self._values(x).expand(*x.shape, 3)
        others = values[values != x[..., None]].view(*x.shape, 2)
        d_states = (others - x[..., None])[..., None]  # (batch, n, 2, 1)
        return d_states, -d_states[..., 0] * self.params[0].detach()[:, None]


def _rbm(seed=0, n_visible=5, n_hidden=3):
    g = torch.Generator().manual_seed(seed)
    rbm = RBM(Ternary(n_visible), Bernoulli(n_hidden), weight_std=0.8, generator=g).double()
    with torch.no_grad():
        rbm.visible.params.normal_(0, 0.5, generator=g)
        rbm.hidden.params.normal_(0, 0.5, generator=g)
    return rbm


@torch.no_grad()
def _exact_samples(rbm, n, seed):
    g = torch.Generator().manual_seed(seed)
    v_all = torch.cat(list(rbm.visible.enumerate_states()))
    p = torch.softmax(-rbm.free_energy_visible(v_all), 0)
    return v_all[torch.multinomial(p, n, replacement=True, generator=g)]


def test_registered_by_name_and_cgf_gradient_is_the_mean():
    assert unit_type("Ternary") is Ternary
    layer = _rbm().visible
    inputs = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(layer.cgf(inputs).sum(), inputs)
    torch.testing.assert_close(grad, layer.mean_from_inputs(inputs.detach()))


def test_training_raises_the_exact_likelihood_and_the_gradient_is_exact():
    teacher = _rbm(seed=1)
    data = _exact_samples(teacher, 600, seed=2)
    student = _rbm(seed=3)
    before = log_likelihood_exact(student, data).mean().item()
    # the generic gradient of the new type equals autograd of the free-energy difference
    v_model = compute_gradients(student, data[:20], PCD(7), generator=torch.Generator())
    loss = (student.free_energy_visible(data[:20]).mean()
            - student.free_energy_visible(v_model).mean())
    expected = torch.autograd.grad(loss, [student.weight, student.visible.params])
    torch.testing.assert_close(student.weight.grad, expected[0])
    torch.testing.assert_close(student.visible.params.grad, expected[1])
    history = harmonium.fit(student, data, PCD(50), epochs=15, batch_size=50, lr=0.05,
                            generator=torch.Generator().manual_seed(4), progress=False)
    after = log_likelihood_exact(student, data).mean().item()
    teacher_ll = log_likelihood_exact(teacher, data).mean().item()
    assert after > before + 0.3 * (teacher_ll - before)
    assert math.isfinite(history["pseudo_ll"][-1])  # the monitor scores the new type


def test_pseudo_likelihood_matches_enumeration_of_each_site():
    rbm = _rbm(seed=5)
    v = _exact_samples(rbm, 6, seed=6)
    expected = torch.zeros(6, dtype=torch.float64)
    for i in range(5):
        flipped = v[:, None, :].repeat(1, 3, 1)
        flipped[:, :, i] = torch.tensor(STATES, dtype=torch.float64)
        f = rbm.free_energy_visible(flipped.reshape(-1, 5)).view(6, 3)
        current = (v[:, i] + 1).long()
        expected += -f.gather(1, current[:, None])[:, 0] - torch.logsumexp(-f, 1)
    torch.testing.assert_close(pseudo_log_likelihood(rbm, v), expected)


def test_samples_save_load_and_ais_against_exact_log_z(tmp_path):
    rbm = _rbm(seed=7)
    v = rbm.gibbs(torch.zeros(200, 5, dtype=torch.float64), 10,
                  generator=torch.Generator().manual_seed(8))
    rbm.visible.check_support(v)
    harmonium.save(rbm, tmp_path / "ternary.safetensors")
    back = harmonium.load(tmp_path / "ternary.safetensors")
    assert isinstance(back.visible, Ternary)
    torch.testing.assert_close(back.free_energy(v), rbm.free_energy(v))
    exact = log_partition_exact(back).item()
    result = ais(back, 2000, betas=torch.linspace(0, 1, 50),
                 generator=torch.Generator().manual_seed(9), progress=False)
    low, high = result.bracket(5)
    assert low < exact < high
    assert result.log_z == pytest.approx(exact, abs=0.1)

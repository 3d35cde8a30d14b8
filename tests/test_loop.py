"""The one training loop under every trainer: transforms, divergence, exact resume."""

import numpy as np
import pytest
import torch

import harmonium
from harmonium import PCD, RBM, BoltzmannMachine, RBMRecommender
from harmonium.tasks._recommend_task import RecommenderTask
from harmonium.training.loop import TrainingDiverged
from harmonium.training.transforms import L1, FreezeParameter, Sparsity, WeightDecay, chain
from harmonium.units import Bernoulli


def _rbm(seed=0):
    return RBM(Bernoulli(6), Bernoulli(4), generator=torch.Generator().manual_seed(seed)).double()


def _data(n=60, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 6, generator=g, dtype=torch.float64) < 0.3).double()


def _fit(rbm, **kwargs):
    return harmonium.fit(rbm, _data(), PCD(10), epochs=3, batch_size=20, monitor=0,
                         generator=torch.Generator().manual_seed(2), progress=False, **kwargs)


def test_weight_decay_keyword_equals_its_transform():
    by_keyword, by_transform = _rbm(), _rbm()
    _fit(by_keyword, weight_decay=0.01, transforms=[L1(0.001)])
    _fit(by_transform, transforms=[WeightDecay(0.01), L1(0.001)])
    for a, b in zip(by_keyword.parameters(), by_transform.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


class CountingShrink:
    """A user-written transform: halves the weight gradient, counts its calls (state)."""

    def init(self, model):
        return {"calls": 0}

    def update(self, model, state, batch):
        model.weight.grad.mul_(0.5)
        return {"calls": state["calls"] + 1}


def test_a_user_transform_plugs_in_with_its_own_state(tmp_path):
    plain, halved = _rbm(), _rbm()
    _fit(plain, lr=0.05)
    shrink = CountingShrink()
    _fit(halved, lr=0.05, transforms=[shrink], checkpoint=tmp_path / "ckpt.safetensors")
    assert not torch.equal(plain.weight, halved.weight)
    assert chain(shrink).init(halved) == {"0": {"calls": 0}}
    # the loop threads the state through every update and checkpoints it: 3 x 3 batches
    saved = harmonium.load(tmp_path / "ckpt.safetensors")
    assert saved["transforms"] == {"0": {"calls": 9}}
    with pytest.raises(TypeError, match="init and update"):
        _fit(_rbm(), transforms=[object()])


class Overflow:
    """A transform standing in for an exploding step: the gradient becomes infinite."""

    def init(self, model):
        return {}

    def update(self, model, state, batch):
        model.weight.grad.fill_(float("inf"))
        return state


def test_divergence_stops_with_a_clear_error_and_saves_nothing(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    with pytest.raises(TrainingDiverged, match=r"diverged in epoch 1: weight .*learning rate"):
        _fit(_rbm(), checkpoint=path, transforms=[Overflow()])
    assert not path.exists()
    _fit(_rbm(), checkpoint=path)  # a finite run writes its checkpoint
    assert path.exists()


class Runaway:
    """A transform standing in for a runaway step: a finite gradient of a given size."""

    def __init__(self, size):
        self.size = size

    def init(self, model):
        return {}

    def update(self, model, state, batch):
        model.weight.grad.fill_(-self.size)
        return state


def test_a_finite_but_runaway_weight_counts_as_diverged(tmp_path):
    # 3 steps of lr 1 x 1e7 per epoch: the weights pass 3e7 in epoch 1, all finite
    path = tmp_path / "ckpt.safetensors"
    with pytest.raises(TrainingDiverged,
                       match=r"epoch 1: weight reached [0-9.]+e\+07, above 1e\+06"):
        _fit(_rbm(), lr=1.0, checkpoint=path, transforms=[Runaway(1e7)])
    assert not path.exists()
    # 3e4 per step: 9 steps reach 2.7e5 (at most twice that with momentum) and run on
    rbm = _rbm()
    _fit(rbm, lr=1.0, checkpoint=path, transforms=[Runaway(3e4)])
    assert 2.7e5 <= float(rbm.weight.detach().abs().max()) <= 1e6
    assert path.exists()


@pytest.mark.parametrize("momentum", [1.0, 5.0, -0.1])
def test_momentum_outside_zero_one_is_refused(momentum):
    with pytest.raises(ValueError, match="momentum"):
        _fit(_rbm(), momentum=momentum)


def _boltzmann(epochs, path, resume):
    bm = BoltzmannMachine(6, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    g = torch.Generator().manual_seed(4)
    harmonium.fit_boltzmann(bm, _data(), epochs=epochs, batch_size=20, n_chains=10, lr=0.1,
                            weight_decay=1e-3, generator=g, progress=False, checkpoint=path,
                            resume=resume)
    return bm


def test_boltzmann_machine_resumes_bit_for_bit(tmp_path):
    straight = _boltzmann(4, tmp_path / "a.safetensors", False)
    _boltzmann(2, tmp_path / "b.safetensors", False)
    resumed = _boltzmann(4, tmp_path / "b.safetensors", True)
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert len(resumed.history_) == 4
    assert not torch.equal(straight.weight, _boltzmann(2, tmp_path / "c.safetensors", False)
                           .weight)  # the last two epochs did change the model


def _ratings(seed=0, n_users=25, n_items=12):
    rng = np.random.default_rng(seed)
    u, i = np.nonzero(rng.random((n_users, n_items)) < 0.5)
    return u, i, rng.integers(1, 6, size=len(u)).astype(float)


def _recommender(epochs, path, resume):
    rec = RBMRecommender(4, epochs=epochs, batch_size=5, rating_scale=(1, 5),
                         cd_steps=(1, 3), weight_decay=1e-3)
    return rec.fit(*_ratings(), generator=torch.Generator().manual_seed(5), progress=False,
                   checkpoint=path, resume=resume)


class Interrupted(Exception):
    pass


def test_recommender_resumes_bit_for_bit(tmp_path, monkeypatch):
    straight = _recommender(4, tmp_path / "a.safetensors", False)
    path = tmp_path / "b.safetensors"
    begin = RecommenderTask.begin_epoch

    def crash_in_epoch_three(self, epoch, epochs):
        if epoch == 2:
            raise Interrupted
        begin(self, epoch, epochs)

    with monkeypatch.context() as m:  # the learning rate and Gibbs schedule span 4 epochs
        m.setattr(RecommenderTask, "begin_epoch", crash_in_epoch_three)
        with pytest.raises(Interrupted):
            _recommender(4, path, False)
    resumed = _recommender(4, path, True)
    for a, b in zip(straight.rbm_.parameters(), resumed.rbm_.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert [h["cd_steps"] for h in resumed.history_] == [1, 1, 3, 3]
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3, 4]


@pytest.mark.parametrize(("make", "match"), [
    (lambda: WeightDecay(-1.0), "weight_decay"), (lambda: L1(float("nan")), "l1"),
    (lambda: Sparsity(1.5), "sparsity"), (lambda: Sparsity(0.1, -2.0), "sparsity_cost"),
    (lambda: FreezeParameter("middle", "bias"), "layer"),
])
def test_transforms_reject_bad_settings(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_freeze_parameter_names_a_parameter_the_layer_has():
    with pytest.raises(ValueError, match="precision"):
        _fit(_rbm(), transforms=[FreezeParameter("visible", "precision")])

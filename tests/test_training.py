"""RBM training: gradient estimators against enumeration, fit, resume, bad inputs."""

import math

import pytest
import torch

import harmonium
from harmonium import CD, PCD, RBM
from harmonium.partition import log_likelihood_exact
from harmonium.training import L1, History, Sparsity, compute_gradients
from harmonium.units import Bernoulli, Categorical, Gaussian, Spin


def _rbm(visible, hidden, seed=0, scale=0.5):
    g = torch.Generator().manual_seed(seed)
    rbm = RBM(visible, hidden, weight_std=scale, generator=g).double()
    with torch.no_grad():
        for layer in (rbm.visible, rbm.hidden):
            layer.params[0].copy_(0.5 * torch.randn(layer.shape, generator=g))
    return rbm


def _data(n=40, d=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    protos = (torch.rand(2, d, generator=g) < 0.5).double()
    x = protos[torch.randint(0, 2, (n,), generator=g)]
    flip = torch.rand(x.shape, generator=g) < 0.1
    return torch.where(flip, 1 - x, x)


def _all_states(layer):
    return torch.cat(list(layer.enumerate_states()))


def _grads(rbm, loss):
    params = [rbm.weight, rbm.visible.params, rbm.hidden.params]
    return torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)])


def _estimate(rbm, data, method, repeats, seed=2):
    g = torch.Generator().manual_seed(seed)
    compute_gradients(rbm, data.repeat(repeats, 1), method, generator=g)
    params = [rbm.weight, rbm.visible.params, rbm.hidden.params]
    return torch.cat([p.grad.flatten() for p in params])


def _exact_nll_gradient(rbm, data):
    states = _all_states(rbm.visible)
    log_z = torch.logsumexp(-rbm.free_energy_visible(states), 0)
    return _grads(rbm, rbm.free_energy_visible(data).mean() + log_z)


def test_cd1_estimate_matches_its_exact_expectation():
    # E[CD-1 gradient] = grad mean F(data) - sum_v' T(v'|data) grad F(v'), where
    # T = p(h|v) p(v'|h) is the one-sweep kernel, enumerated here.
    rbm, data = _rbm(Bernoulli(6), Bernoulli(4)), _data()
    v, h = _all_states(rbm.visible), _all_states(rbm.hidden)
    with torch.no_grad():
        energy = rbm.energy(v.repeat_interleave(len(h), 0), h.repeat(len(v), 1))
        energy = energy.view(len(v), len(h))
        p_h_v = torch.softmax(-energy, 1)
        p_v_h = torch.softmax(-energy, 0).T
        idx = (data * 2 ** torch.arange(5, -1, -1, dtype=data.dtype)).sum(1).long()
        weights = (p_h_v[idx] @ p_v_h).mean(0)
    loss = rbm.free_energy_visible(data).mean() - weights @ rbm.free_energy_visible(v)
    expected = _grads(rbm, loss)
    repeats = 2000
    estimate = _estimate(rbm, data, CD(1), repeats)
    # Monte-Carlo error of a mean of 80000 terms bounded by |W| <= 1 per entry
    tol = 5 * 1.0 / math.sqrt(len(data) * repeats)
    assert (estimate - expected).abs().max() < tol


@pytest.mark.parametrize("method", [PCD(4000, k=200), CD(k=200)], ids=["pcd", "cd200"])
def test_long_chain_gradient_matches_exact_gradient(method):
    rbm, data = _rbm(Bernoulli(6), Bernoulli(4)), _data()
    exact = _exact_nll_gradient(rbm, data)
    estimate = _estimate(rbm, data, method, repeats=100 if isinstance(method, CD) else 1)
    cos = torch.nn.functional.cosine_similarity(estimate, exact, dim=0)
    assert cos > 0.99
    assert (estimate - exact).abs().max() < 0.05


@pytest.mark.parametrize("visible", [Bernoulli(6), Spin(6)], ids=["bernoulli", "spin"])
def test_fit_raises_exact_log_likelihood(visible):
    rbm = _rbm(visible, Bernoulli(4), scale=0.01)
    data = _data()
    if isinstance(visible, Spin):
        data = 2 * data - 1
    before = log_likelihood_exact(rbm, data)
    g = torch.Generator().manual_seed(0)
    hist = harmonium.fit(
        rbm, data, PCD(40), epochs=30, batch_size=10, lr=0.1, generator=g, progress=False
    )
    assert log_likelihood_exact(rbm, data) > before + 0.3
    assert len(hist) == 30
    assert hist["pseudo_ll"][-1] > hist["pseudo_ll"][0]


def test_fit_accepts_probabilities_for_bernoulli_visible_units():
    rbm = _rbm(Bernoulli(6), Bernoulli(3))
    data = torch.rand(30, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    hist = harmonium.fit(rbm, data, epochs=2, batch_size=7, progress=False,
                         generator=torch.Generator().manual_seed(0))
    assert math.isfinite(hist["recon_error"][-1])


def test_fit_gaussian_and_categorical_visible_units():
    g = torch.Generator().manual_seed(0)
    rbm = RBM(Gaussian(5), Bernoulli(3), generator=g)
    x = torch.randn(50, 5, generator=g) * 0.5 + 1.0
    hist = harmonium.fit(rbm, x, epochs=3, batch_size=10, lr=0.05, generator=g, progress=False,
                         validation_data=x[:10])
    assert (rbm.visible.precision > 0).all()
    assert "pseudo_ll" not in hist.records[0] and "free_energy_gap" in hist.records[0]
    cat = RBM(Categorical(4, 3), Bernoulli(3), generator=g)
    v = torch.nn.functional.one_hot(torch.randint(0, 3, (30, 4), generator=g), 3).float()
    assert len(harmonium.fit(cat, v, PCD(10), epochs=2, batch_size=10, generator=g,
                             progress=False)) == 2


def _train(tmp_path, epochs, resume, seed=0):
    rbm = _rbm(Bernoulli(6), Bernoulli(4), scale=0.1)
    g = torch.Generator().manual_seed(seed)
    hist = harmonium.fit(
        rbm, _data(), PCD(8), epochs=epochs, batch_size=7, momentum=0.9,
        weight_decay=1e-3, generator=g, progress=False, checkpoint=tmp_path / "ckpt.safetensors",
        resume=resume,
        scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5),
    )
    return rbm, hist


def test_resume_is_bit_identical(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    straight, hist_straight = _train(tmp_path / "a", 5, False)
    _train(tmp_path / "b", 2, False)
    resumed, hist_resumed = _train(tmp_path / "b", 5, True, seed=123)  # seed is overwritten
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)
    assert len(hist_resumed) == 5
    assert hist_resumed["pseudo_ll"] == hist_straight["pseudo_ll"]


def test_trained_model_saves_and_loads(tmp_path):
    rbm, _ = _train(tmp_path, 2, False)
    harmonium.save(rbm, tmp_path / "m.safetensors")
    back = harmonium.load(tmp_path / "m.safetensors")
    data = _data()
    torch.testing.assert_close(back.free_energy(data), rbm.free_energy(data))


def test_callbacks_see_metrics_and_can_stop():
    seen = []

    def cb(epoch, metrics, rbm):
        seen.append((epoch, "recon_error" in metrics))
        return epoch == 2

    rbm = _rbm(Bernoulli(6), Bernoulli(3))
    hist = harmonium.fit(rbm, _data(), epochs=10, callbacks=[cb], progress=False,
                         generator=torch.Generator().manual_seed(0))
    assert seen == [(1, True), (2, True)] and len(hist) == 2
    with pytest.raises(KeyError, match="no metric"):
        hist["nope"]


def test_custom_optimizer_and_sparsity_target():
    def mean_activation(**kwargs):
        rbm = _rbm(Bernoulli(6), Bernoulli(8))
        harmonium.fit(rbm, _data(), epochs=20, optimizer=lambda p: torch.optim.Adam(p, lr=0.02),
                      generator=torch.Generator().manual_seed(0), progress=False, **kwargs)
        return rbm.mean_h_from_v(_data()).mean().item()

    free = mean_activation()
    sparse = mean_activation(transforms=[Sparsity(0.05, 1.0), L1(1e-3)])
    assert sparse < free - 0.1


def test_deprecated_penalty_keywords_warn_and_still_work():
    def trained(**kwargs):
        rbm = _rbm(Bernoulli(6), Bernoulli(8))
        harmonium.fit(rbm, _data(), epochs=3, generator=torch.Generator().manual_seed(0),
                      progress=False, monitor=0, **kwargs)
        return rbm.weight

    with pytest.warns(DeprecationWarning, match="transforms=\\[Sparsity"):
        old = trained(sparsity=0.05, sparsity_cost=1.0)
    torch.testing.assert_close(old, trained(transforms=[Sparsity(0.05, 1.0)]), rtol=0, atol=0)
    with pytest.warns(DeprecationWarning, match="transforms=\\[L1"):
        old = trained(l1=1e-3)
    torch.testing.assert_close(old, trained(transforms=[L1(1e-3)]), rtol=0, atol=0)


def test_history_plot_returns_figure():
    from matplotlib.figure import Figure

    hist = History([{"epoch": 1, "recon_error": 0.3}, {"epoch": 2, "recon_error": 0.2}])
    assert isinstance(hist.plot(), Figure)


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        (torch.zeros(5, 7), ValueError, "6 features"),
        (torch.full((5, 6), float("nan")), ValueError, "NaN"),
        (torch.full((5, 6), 1.5), ValueError, r"\[0, 1\]"),
        (torch.zeros(0, 6), ValueError, "empty"),
        ([["a"] * 6], TypeError, "numeric"),
    ],
)
def test_fit_rejects_bad_data(data, error, match):
    with pytest.raises(error, match=match):
        harmonium.fit(_rbm(Bernoulli(6), Bernoulli(3)), data, progress=False)


def test_fit_rejects_out_of_support_categorical_and_spin_data():
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        harmonium.fit(_rbm(Spin(3), Bernoulli(2)), torch.full((4, 3), 2.0), progress=False)
    with pytest.raises(ValueError, match="one-hot"):
        harmonium.fit(_rbm(Categorical(2, 3), Bernoulli(2)), torch.zeros(4, 2, 3), progress=False)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"epochs": 0}, ValueError),
        ({"batch_size": 0}, ValueError),
        ({"batch_size": 2.5}, TypeError),
        ({"lr": -1.0}, ValueError),
        ({"momentum": float("nan")}, ValueError),
        ({"monitor": -1}, ValueError),
        ({"optimizer": "sgd"}, TypeError),
        ({"scheduler": 3}, TypeError),
        ({"transforms": [object()]}, TypeError),
        ({"method": "cd"}, TypeError),
        ({"resume": "/nonexistent/ckpt.safetensors"}, FileNotFoundError),
    ],
)
def test_fit_rejects_bad_options(kwargs, error):
    with pytest.raises(error):
        harmonium.fit(_rbm(Bernoulli(6), Bernoulli(3)), _data(), progress=False, **kwargs)


def test_sparsity_needs_bernoulli_hidden_units():
    with pytest.raises(ValueError, match=r"means in \[0, 1\]"):
        harmonium.fit(_rbm(Bernoulli(6), Spin(3)), _data(), transforms=[Sparsity(0.1)],
                      progress=False)


@pytest.mark.parametrize("make", [lambda: CD(0), lambda: PCD(k=0), lambda: PCD(0)])
def test_methods_reject_k_below_one(make):
    with pytest.raises(ValueError, match=">= 1"):
        make()


def test_method_state_round_trip():
    rbm = _rbm(Bernoulli(6), Bernoulli(3))
    pcd = PCD(5)
    pcd.negative(rbm, _data(), None, generator=torch.Generator().manual_seed(0))
    other = PCD()
    other.load_state_dict(pcd.state_dict())
    assert torch.equal(other.chains, pcd.chains) and other.n_chains == 5
    assert CD(2).state_dict() == {}
    with pytest.raises(ValueError, match="no state"):
        CD().load_state_dict({"chains": torch.zeros(1)})
    with pytest.raises(TypeError, match="tensor"):
        PCD().load_state_dict({"chains": [1, 2]})


def test_resume_rejects_other_method_and_shape(tmp_path):
    _train(tmp_path, 1, False)
    with pytest.raises(ValueError, match="method PCD"):
        harmonium.fit(_rbm(Bernoulli(6), Bernoulli(4)), _data(), CD(1), progress=False,
                      resume=tmp_path / "ckpt.safetensors")
    with pytest.raises(ValueError, match="shape"):
        harmonium.fit(_rbm(Bernoulli(6), Bernoulli(5)), _data(), PCD(8), progress=False,
                      resume=tmp_path / "ckpt.safetensors")
    harmonium.save(harmonium.RBM(Bernoulli(2), Bernoulli(2)), tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="not a harmonium training checkpoint"):
        harmonium.fit(_rbm(Bernoulli(6), Bernoulli(4)), _data(), PCD(8), progress=False,
                      resume=tmp_path / "model.safetensors")

"""The CUDA path: every trainable model runs on a GPU with a generator on the GPU.

Skipped without a GPU. Each test checks a real property on the device (results match an
independent computation, or the same seed reproduces the same result), not only that
the call returns.
"""

import copy

import numpy as np
import pytest
import torch

import harmonium
from harmonium import DBN, RBM, fine_tune, fit_greedy
from harmonium.partition import log_likelihood_exact, log_partition_exact
from harmonium.units import Bernoulli, Categorical, Gaussian, Spin

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
CUDA = "cuda"


def _gen(seed: int) -> torch.Generator:
    return torch.Generator(device=CUDA).manual_seed(seed)


def _digits(n: int = 600):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data[:n] / 16.0, dtype=torch.float32)
    return (x > 0.5).float().to(CUDA), torch.tensor(d.target[:n]).to(CUDA)


@pytest.mark.parametrize("visible", [Bernoulli(6), Spin(6), Gaussian(4), Categorical(3, 3)],
                         ids=["bernoulli", "spin", "gaussian", "categorical"])
def test_rbm_matches_its_cpu_copy(visible):
    rbm = RBM(visible, Bernoulli(5), weight_std=0.5, generator=_gen(0)).to(torch.float64)
    gpu = RBM(type(visible)(*visible.shape), Bernoulli(5)).to(torch.float64)
    gpu.load_state_dict(rbm.state_dict())
    gpu = gpu.to(CUDA)
    v = harmonium.generate(gpu, 64, 20, generator=_gen(1), mean=False)
    assert v.device.type == "cuda"
    torch.testing.assert_close(gpu.free_energy(v).cpu(), rbm.free_energy(v.cpu()))
    torch.testing.assert_close(log_partition_exact(gpu).cpu(), log_partition_exact(rbm))


@pytest.mark.parametrize("method", [harmonium.CD(1), harmonium.PCD(32, 1)], ids=repr)
def test_fit_on_gpu_is_reproducible_and_learns(method):
    x, _ = _digits()
    x = x[:, :16]  # a 16-pixel corner: small enough to enumerate
    results = []
    for _ in range(2):
        rbm = RBM(Bernoulli(16), Bernoulli(8), generator=_gen(0)).to(CUDA)
        before = log_likelihood_exact(rbm, x).mean().item()
        harmonium.fit(rbm, x, copy.deepcopy(method), epochs=5, batch_size=50, lr=0.1,
                      generator=_gen(2), progress=False, monitor=0)
        results.append(rbm.weight.detach().cpu())
    assert torch.equal(results[0], results[1])
    assert log_likelihood_exact(rbm, x).mean().item() > before + 1.0


def test_dbn_pretrain_finetune_dream_save_on_gpu(tmp_path):
    x, y = _digits()
    dbn = DBN([64, 32, 32], n_labels=10, generator=_gen(0)).to(CUDA)
    fit_greedy(dbn, x, y, epochs=10, batch_size=20, lr=0.1, generator=_gen(1), progress=False,
               monitor=0)
    fine_tune(dbn, x[:500], y[:500], epochs=30, lr=1e-2, generator=_gen(2), progress=False)
    accuracy = (dbn.predict(x[500:]) == y[500:]).float().mean().item()
    assert accuracy > 0.6  # chance is 0.1
    dreams = dbn.dream(3, 4, steps=10, generator=_gen(3))
    assert dreams.device.type == "cuda" and dreams.shape == (4, 64)
    harmonium.save(dbn, tmp_path / "dbn.safetensors")
    back = harmonium.load(tmp_path / "dbn.safetensors")
    torch.testing.assert_close(back.predict_proba(x.cpu()), dbn.predict_proba(x).cpu())


def test_unlabelled_dbn_fine_tunes_with_default_generator():
    x, y = _digits()
    dbn = DBN([64, 32], generator=_gen(0)).to(CUDA)
    fit_greedy(dbn, x, epochs=10, batch_size=20, lr=0.1, progress=False, monitor=0)
    fine_tune(dbn, x, y, epochs=20, progress=False)
    pred = dbn.predict(x)
    assert pred.device.type == "cuda"
    assert (pred == y).float().mean().item() > 0.6  # chance is 0.1


def test_sklearn_rbm_on_gpu_scores_the_exact_pseudo_likelihood():
    from harmonium.sklearn import BernoulliRBM

    x, _ = _digits(200)
    est = BernoulliRBM(n_components=16, n_iter=3, random_state=0, device=CUDA)
    est.fit(x.cpu().numpy())
    assert est.transform(x.cpu().numpy()).shape == (200, 16)
    # oracle: sum_i log p(v_i | v_-i) = sum_i log sigmoid(F(v with i flipped) - F(v)),
    # from free energies of a float64 CPU copy
    rbm = copy.deepcopy(est.rbm_).cpu().double().requires_grad_(False)
    v = x[:20].cpu().double()
    expected = torch.zeros(20, dtype=torch.float64)
    for i in range(v.shape[1]):
        flipped = v.clone()
        flipped[:, i] = 1 - v[:, i]
        expected += torch.nn.functional.logsigmoid(
            rbm.free_energy_visible(flipped) - rbm.free_energy_visible(v))
    scores = est.score_samples(x[:20].cpu().numpy())
    np.testing.assert_allclose(scores, expected.numpy(), rtol=1e-4)


def test_boltzmann_machine_on_gpu_matches_cpu_log_z():
    from harmonium import BoltzmannMachine

    bm = BoltzmannMachine(6, 3, weight_std=0.5, generator=_gen(0), dtype=torch.float64)
    gpu = BoltzmannMachine(6, 3, dtype=torch.float64)
    gpu.load_state_dict(bm.state_dict())
    gpu = gpu.to(CUDA)
    torch.testing.assert_close(gpu.log_partition_exact().cpu(), bm.log_partition_exact())
    x = gpu.sample(50, 5, generator=_gen(1))
    assert x.device.type == "cuda" and x.shape == (50, 9)
    harmonium.fit_boltzmann(gpu, x[:, :6], epochs=1, generator=_gen(2), progress=False)
    assert torch.isfinite(gpu.weight).all()

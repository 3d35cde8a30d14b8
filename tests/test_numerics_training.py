"""Training at the numerical edges: large learning rates and unnormalised data.

Training either stays finite (parameters, free energies, pseudo-likelihoods) or stops
with :class:`~harmonium.training.loop.TrainingDiverged`, whose message names the
remedy; a checkpoint never holds NaN or infinity.
"""

import math

import numpy as np
import pytest
import torch

import harmonium
from harmonium.datasets import load_digits
from harmonium.partition import pseudo_log_likelihood
from harmonium.training.loop import TrainingDiverged
from harmonium.units import Bernoulli, Gaussian


def _mnist_like(n: int, seed: int = 0) -> torch.Tensor:
    """``n`` 28 x 28 grey images in [0, 1]: a bright blob on a mostly black page."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    centre = 9 + 10 * torch.rand(n, 2, generator=g)
    radius = 3 + 4 * torch.rand(n, 1, 1, generator=g)
    dist = ((yy - centre[:, 0, None, None]) ** 2 + (xx - centre[:, 1, None, None]) ** 2).sqrt()
    ink = (radius - dist).clamp(0, 1) * (0.5 + 0.5 * torch.rand(n, 28, 28, generator=g))
    return ink.reshape(n, 784)


def _digits_0_255(n: int) -> torch.Tensor:
    """Digits as raw 8-bit pixel values, 0..255 (not standardised)."""
    return torch.tensor(load_digits()[0][:n] * 255.0, dtype=torch.float32)


def _all_finite(rbm, x: torch.Tensor) -> bool:
    params = all(torch.isfinite(p).all() for p in rbm.parameters())
    with torch.no_grad():
        free = torch.isfinite(rbm.free_energy_visible(x)).all()
    return bool(params and free)


def _check_checkpoint(path) -> None:
    saved = harmonium.load(path)
    for name, tensor in saved["model"].items():
        assert torch.isfinite(tensor).all(), name


def _fit_or_diverge(rbm, x, method, *, lr, momentum, epochs, batch_size, checkpoint):
    """Train; return None when training stayed finite, else the divergence message."""
    try:
        harmonium.fit(rbm, x, method, epochs=epochs, batch_size=batch_size, lr=lr,
                      momentum=momentum, progress=False, monitor=0, checkpoint=checkpoint,
                      generator=torch.Generator().manual_seed(0))
    except TrainingDiverged as exc:
        return str(exc)
    return None


def _bernoulli_edge(tmp_path, n, epochs, lr, momentum, method):
    x = _mnist_like(n)
    rbm = harmonium.RBM(Bernoulli(784), Bernoulli(500),
                        generator=torch.Generator().manual_seed(0))
    ckpt = tmp_path / "run.ckpt"
    message = _fit_or_diverge(rbm, x, method, lr=lr, momentum=momentum, epochs=epochs,
                              batch_size=20, checkpoint=ckpt)
    # Bernoulli units: every gradient entry lies in [-1, 1], so training stays finite
    assert message is None, message
    assert _all_finite(rbm, x)
    pll = pseudo_log_likelihood(rbm, (x[:20] >= 0.5).float())
    assert torch.isfinite(pll).all() and (pll <= 0).all()
    _check_checkpoint(ckpt)


@pytest.mark.parametrize("lr", [0.1, 1.0])
@pytest.mark.parametrize("momentum", [0.5, 0.9])
def test_bernoulli_784x500_stays_finite_at_large_learning_rates(tmp_path, lr, momentum):
    _bernoulli_edge(tmp_path, 200, 2, lr, momentum, harmonium.PCD(20))


@pytest.mark.slow
@pytest.mark.parametrize("lr", [0.5, 1.0])
@pytest.mark.parametrize("method", ["cd", "pcd"])
def test_bernoulli_784x500_long_runs_stay_finite(tmp_path, lr, method):
    m = harmonium.CD(1) if method == "cd" else harmonium.PCD(100)
    _bernoulli_edge(tmp_path, 1000, 10, lr, 0.9, m)


@pytest.mark.parametrize("lr", [0.01, 0.1, 1.0])
def test_gaussian_rbm_on_raw_pixel_values_stays_finite_or_names_the_remedy(tmp_path, lr):
    x = _digits_0_255(200)
    rbm = harmonium.RBM(Gaussian(64), Bernoulli(32), generator=torch.Generator().manual_seed(0))
    ckpt = tmp_path / "run.ckpt"
    message = _fit_or_diverge(rbm, x, harmonium.PCD(20), lr=lr, momentum=0.9, epochs=10,
                              batch_size=20, checkpoint=ckpt)
    if message is None:
        assert _all_finite(rbm, x)
        _check_checkpoint(ckpt)
    else:
        assert "learning rate" in message
        if ckpt.exists():
            _check_checkpoint(ckpt)


def test_a_diverged_gaussian_run_names_the_remedy_and_saves_nothing(tmp_path):
    # an absurd step overflows float32 in the first epoch
    x = _digits_0_255(100)
    rbm = harmonium.RBM(Gaussian(64), Bernoulli(16), generator=torch.Generator().manual_seed(0))
    ckpt = tmp_path / "run.ckpt"
    message = _fit_or_diverge(rbm, x, harmonium.CD(1), lr=1e20, momentum=0.5, epochs=2,
                              batch_size=20, checkpoint=ckpt)
    assert message is not None and "lower the learning rate" in message
    assert not ckpt.exists()


def test_a_diverged_gaussian_run_suggests_standardising_the_data(tmp_path):
    rbm = harmonium.RBM(Gaussian(64), Bernoulli(16), generator=torch.Generator().manual_seed(0))
    message = _fit_or_diverge(rbm, _digits_0_255(100), harmonium.CD(1), lr=1e20,
                              momentum=0.5, epochs=1, batch_size=20, checkpoint=None)
    assert message is not None and "standardi" in message


def test_sklearn_gaussian_rbm_standardises_raw_pixels_and_stays_finite():
    from harmonium.sklearn import GaussianBernoulliRBM

    X = _digits_0_255(200).numpy()
    est = GaussianBernoulliRBM(n_components=16, n_iter=3, learning_rate=0.1,
                               learn_variance=True, random_state=0).fit(X)
    assert np.isfinite(est.components_).all() and np.isfinite(est.precision_).all()
    assert np.isfinite(est.score_samples(X)).all()
    assert math.isfinite(float(est.transform(X).sum()))

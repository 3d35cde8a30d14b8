"""scikit-learn estimators: the estimator contract and agreement with the core."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.utils.estimator_checks import parametrize_with_checks

from harmonium.partition import pseudo_log_likelihood
from harmonium.sklearn import BernoulliRBM, GaussianBernoulliRBM


@parametrize_with_checks(
    [BernoulliRBM(n_components=8, n_iter=3), GaussianBernoulliRBM(n_components=8, n_iter=3)]
)
def test_sklearn_contract(estimator, check):
    check(estimator)


def _digits(n=300):
    return load_digits().data[:n] / 16.0


def test_same_defaults_as_scikit_learn():
    from sklearn.neural_network import BernoulliRBM as Reference

    ours, ref = BernoulliRBM().get_params(), Reference().get_params()
    assert {k: ours[k] for k in ref} == ref


def test_fit_transform_shapes_and_attributes():
    X = _digits()
    rbm = BernoulliRBM(n_components=16, n_iter=2, random_state=0).fit(X)
    assert rbm.transform(X).shape == (300, 16)
    assert rbm.components_.shape == (16, 64) and rbm.intercept_hidden_.shape == (16,)
    assert rbm.intercept_visible_.shape == (64,) and rbm.n_features_in_ == 64
    assert rbm.gibbs(X[:5]).dtype == bool and rbm.gibbs(X[:5]).shape == (5, 64)
    np.testing.assert_allclose(
        rbm.transform(X[:3]),
        1 / (1 + np.exp(-(X[:3] @ rbm.components_.T + rbm.intercept_hidden_))),
        rtol=1e-6,
    )


def test_score_samples_is_exact_deterministic_pseudo_likelihood():
    X = (_digits() > 0.5).astype(np.float64)
    rbm = BernoulliRBM(n_components=16, n_iter=2, random_state=0).fit(X)
    s1, s2 = rbm.score_samples(X), rbm.score_samples(X)
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_allclose(s1, pseudo_log_likelihood(rbm.rbm_, torch.tensor(X)).numpy())
    assert (s1 < 0).all()


def test_partial_fit_and_cd_method_learn():
    X = (_digits() > 0.5).astype(np.float64)
    for method in ("pcd", "cd"):
        rbm = BernoulliRBM(n_components=32, random_state=0, method=method, k=1)
        rbm.partial_fit(X[:10])
        before = rbm.score_samples(X).mean()
        for _ in range(5):
            for i in range(0, len(X), 10):
                rbm.partial_fit(X[i : i + 10])
        assert rbm.score_samples(X).mean() > before + 1.0


def test_gaussian_bernoulli_rbm_standardises_and_scores():
    X = load_digits().data[:200] * 3.0 + 5.0
    rbm = GaussianBernoulliRBM(n_components=16, n_iter=3, random_state=0).fit(X)
    np.testing.assert_allclose(rbm.mean_, X.mean(0))
    assert np.all(rbm.precision_ == 1.0)
    learned = GaussianBernoulliRBM(n_components=16, n_iter=3, random_state=0,
                                   learn_variance=True).fit(X)
    assert not np.all(learned.precision_ == 1.0) and np.all(learned.precision_ > 0)
    assert rbm.gibbs(X[:4]).shape == (4, 64)
    # scores are higher for the data than for noise of the same scale
    noise = np.random.default_rng(0).permutation(X.ravel()).reshape(X.shape)
    assert rbm.score_samples(X).mean() > rbm.score_samples(noise).mean()


@pytest.mark.parametrize(
    ("params", "match"),
    [({"method": "gibbs"}, "method"), ({"k": 0}, "k"), ({"n_components": 0}, "n_components"),
     ({"learning_rate": -1}, "learning_rate")],
)
def test_bad_parameters_raise(params, match):
    with pytest.raises(ValueError, match=match):
        BernoulliRBM(**params).fit(_digits(20))


def test_nan_and_wrong_width_raise():
    rbm = BernoulliRBM(n_components=4, n_iter=1).fit(_digits(20))
    X = _digits(5)
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rbm.transform(X)
    with pytest.raises(ValueError, match="features"):
        rbm.transform(_digits(5)[:, :10])


def test_float32_and_float64_fits_agree_and_keep_the_input_dtype():
    X = _digits(60)
    fits = [BernoulliRBM(n_components=8, batch_size=5, n_iter=2, random_state=3)
            .fit(X.astype(dt)) for dt in (np.float64, np.float32)]
    assert fits[1].components_.dtype == np.float32
    assert fits[1].transform(X.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(fits[0].components_, fits[1].components_, rtol=1e-6)
    np.testing.assert_array_equal(fits[0].h_samples_, fits[1].h_samples_)


def test_compute_dtype_input_trains_in_float32():
    X = _digits(40).astype(np.float32)
    rbm = BernoulliRBM(n_components=8, n_iter=1, random_state=0, compute_dtype="input").fit(X)
    assert rbm.rbm_.weight.dtype == torch.float32 and rbm.transform(X).dtype == np.float32
    with pytest.raises(ValueError, match="compute_dtype"):
        BernoulliRBM(compute_dtype="float16").fit(X)


def test_h_samples_are_the_persistent_chains_hidden_states():
    X = _digits(40)
    rbm = BernoulliRBM(n_components=8, batch_size=7, n_iter=1, random_state=0).fit(X)
    assert rbm.h_samples_.shape == (7, 8)
    assert set(np.unique(rbm.h_samples_)) <= {0.0, 1.0}
    rbm.set_params(method="cd").fit(X)
    assert not hasattr(rbm, "h_samples_")  # CD keeps no chains


def test_verbose_prints_a_line_per_iteration(capsys):
    X = _digits(30)
    BernoulliRBM(n_components=4, n_iter=2, verbose=1, random_state=0).fit(X)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("[BernoulliRBM] Iteration 2, pseudo-")
    GaussianBernoulliRBM(n_components=4, n_iter=1, verbose=1, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert out.startswith("[GaussianBernoulliRBM] Iteration 1, reconstruction error = ")

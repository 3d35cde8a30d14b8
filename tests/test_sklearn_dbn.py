"""scikit-learn DBN estimators: the estimator contract and digit classification."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from harmonium.sklearn import DBNClassifier, DBNTransformer

FAST = {"hidden_layer_sizes": (16,), "pretrain_epochs": 2}


@parametrize_with_checks(
    [DBNClassifier(**FAST, fine_tune_epochs=20, fine_tune_lr=0.05), DBNTransformer(**FAST)]
)
def test_sklearn_contract(estimator, check):
    check(estimator)


def test_classifier_on_digits_with_string_labels():
    X, y = load_digits(return_X_y=True)
    names = np.array(list("abcdefghij"))[y]
    Xtr, Xte, ytr, yte = train_test_split(X, names, test_size=0.25, random_state=0,
                                          stratify=y)
    clf = DBNClassifier((64,), pretrain_epochs=3, fine_tune_epochs=15, random_state=0)
    clf.fit(Xtr, ytr)
    assert set(clf.classes_) == set("abcdefghij")
    assert clf.score(Xte, yte) > 0.93
    proba = clf.predict_proba(Xte[:5])
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    assert clf.transform(Xte[:5]).shape == (5, 64)


def test_transformer_features_feed_a_pipeline():
    X, y = load_digits(return_X_y=True)
    pipe = make_pipeline(
        DBNTransformer((64,), pretrain_epochs=10, pretrain_lr=0.1, batch_size=10,
                       random_state=0),
        LogisticRegression(max_iter=1000, C=100),
    )
    pipe.fit(X[:1000], y[:1000])
    assert pipe.score(X[1000:], y[1000:]) > 0.85


@pytest.mark.parametrize(
    "params",
    [{"hidden_layer_sizes": ()}, {"hidden_layer_sizes": (0,)}, {"method": "pt"},
     {"pretrain_lr": 0.0}, {"batch_size": 0}, {"fine_tune_epochs": 0},
     {"weight_decay": -1.0}],
)
def test_bad_parameters(params):
    X, y = load_digits(return_X_y=True)
    with pytest.raises(ValueError):
        DBNClassifier(**params).fit(X[:50], y[:50])

"""Model selection in fit: validation splits drawn from the training data, early stopping."""

import numpy as np
import pytest
import torch

import harmonium
from harmonium import RBMRecommender
from harmonium.ratings import RatingsData


def _data(seed=0, n_users=30, n_items=20):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n_users, 2)), rng.normal(size=(n_items, 2))
    full = np.clip(np.round(3 + a @ b.T), 1, 5)
    u, i = np.nonzero(rng.random(full.shape) < 0.6)
    t = rng.permutation(len(u)) * 10  # distinct timestamps
    return RatingsData(u, i + 100, full[u, i], t)


@pytest.fixture(scope="module")
def temporal_model():
    data = _data()
    rec = RBMRecommender(6, epochs=12, learning_rate=0.5)
    rec.fit(data, validation="temporal", patience=2, progress=False,
            generator=torch.Generator().manual_seed(0))
    return rec, data


def _held_out(rec, data):
    known = set(zip(rec._ratings.users.ids[rec._ratings.u].tolist(),
                    rec._ratings.items.ids[rec._ratings.i].tolist(), strict=True))
    return np.array([(a, b) not in known for a, b in zip(data.users.tolist(),
                                                          data.items.tolist(), strict=True)])


def test_temporal_validation_holds_out_each_users_newest_tenth(temporal_model):
    rec, data = temporal_model
    held = _held_out(rec, data)
    for user in np.unique(data.users):
        mine = data.users == user
        n_val = min(mine.sum() - 1, int(np.floor(0.1 * mine.sum() + 0.5)))
        assert held[mine].sum() == n_val
        if n_val:  # the held-out ratings are the user's newest
            assert data.timestamps[mine & held].min() > data.timestamps[mine & ~held].max()


def test_the_best_epoch_is_kept(temporal_model):
    rec, data = temporal_model
    val = [h["val_rmse"] for h in rec.history_]
    assert rec.best_epoch_ == int(np.argmin(val)) + 1
    # stopped by patience 2, or ran all epochs
    assert len(val) == rec.epochs or len(val) == rec.best_epoch_ + 2
    held = _held_out(rec, data)
    pred = rec.predict(data.users[held], data.items[held])
    assert np.sqrt(np.mean((pred - data.ratings[held]) ** 2)) == pytest.approx(min(val),
                                                                                rel=1e-6)


def test_best_epoch_is_saved(temporal_model, tmp_path):
    rec, _ = temporal_model
    harmonium.save(rec, tmp_path / "m.safetensors")
    assert harmonium.load(tmp_path / "m.safetensors").best_epoch_ == rec.best_epoch_
    state = rec._to_state()
    state["best_epoch"] = 0
    with pytest.raises(ValueError, match="best_epoch"):
        RBMRecommender._from_state(state)


def test_random_fraction_and_table_timestamps():
    data = _data(1)
    rec = RBMRecommender(4, epochs=2).fit(data.users, data.items, data.ratings,
                                          validation=0.25, progress=False,
                                          generator=torch.Generator().manual_seed(0))
    assert len(rec._ratings) == len(data.ratings) - round(0.25 * len(data.ratings))
    frame = _Table({"userId": data.users, "movieId": data.items, "rating": data.ratings,
                    "Timestamp": data.timestamps})
    rec = RBMRecommender(4, epochs=2).fit(frame, validation="temporal", progress=False,
                                          generator=torch.Generator().manual_seed(0))
    assert rec.best_epoch_ in (1, 2)
    plain = RBMRecommender(4, epochs=1).fit(data, progress=False)
    assert plain.best_epoch_ is None


class _Table(dict):  # the part of the pandas DataFrame interface fit uses
    @property
    def columns(self):
        return list(self)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"validation": "temporal"}, ValueError, "timestamps"),
    ({"validation": "k-fold"}, ValueError, "validation must be"),
    ({"validation": 1.5}, ValueError, "test_fraction"),
    ({"validation": [0.1]}, TypeError, "validation must be"),
    ({"validation": "random", "patience": 0}, ValueError, "patience"),
    ({"validation": "temporal", "timestamps": [1, 2]}, ValueError, "timestamps"),
])
def test_bad_validation_arguments(kwargs, error, match):
    d = _data()
    with pytest.raises(error, match=match):
        RBMRecommender(2, epochs=1).fit(d.users, d.items, d.ratings, progress=False, **kwargs)


def test_refit_trains_on_all_ratings_to_the_chosen_epoch():
    data = _data(2)
    kwargs = {"validation": "temporal", "patience": 2, "progress": False}
    chosen = RBMRecommender(4, epochs=6, learning_rate=0.5).fit(
        data, generator=torch.Generator().manual_seed(3), **kwargs)
    refit = RBMRecommender(4, epochs=6, learning_rate=0.5).fit(
        data, generator=torch.Generator().manual_seed(3), refit=True, **kwargs)
    assert refit.best_epoch_ == chosen.best_epoch_  # the same selection run
    assert len(refit._ratings) == len(data.ratings)  # validation ratings included
    assert len(refit.history_) == refit.best_epoch_ and refit.validation_ is None
    assert all("val_rmse" not in h for h in refit.history_)

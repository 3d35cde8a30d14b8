"""Generated movie ratings from a taste model: the demo's recommender data, no download.

Every generated user has a taste for each genre and a personal offset; every film has
one genre and a quality. A user watches films of the genres they like more often, and
rates a film ``3.2 + offset + quality + taste[genre] + noise``, rounded and clipped to
1..5 stars. Ratings carry timestamps (random times within a year), so the temporal
protocol of :mod:`harmonium.ratings.splits` applies. Titles name the genre
("Comedy film 12"): the data are labelled as generated wherever they are shown.
"""

from __future__ import annotations

import numpy as np

from harmonium.ratings import RatingsData

__all__ = ["GENRES", "taste_ratings"]

GENRES = ("comedy", "drama", "thriller", "science fiction", "romance", "documentary")
# the model's constants: mean rating, spreads of offsets, qualities, tastes and noise
MEAN, OFFSET_SD, QUALITY_SD, TASTE_SD, NOISE_SD = 3.2, 0.3, 0.4, 1.0, 0.6
# start of the generated timestamps (2020-01-01 UTC) and their span (one year), seconds
START, SPAN = 1_577_836_800, 365 * 86_400


def taste_ratings(n_users: int = 400, n_items: int = 150, *, ratings_per_user=(20, 60),
                  seed: int = 0):
    """Generate ratings from the taste model of this module.

    Parameters
    ----------
    n_users, n_items : int
        Users (ids 1..n_users) and films (ids 1..n_items; film i has genre
        ``GENRES[(i - 1) % len(GENRES)]``).
    ratings_per_user : (int, int)
        Each user rates a uniform number of films in this range (inclusive), at most
        ``n_items``.
    seed : int
        Seed of the numpy generator: the same seed gives the same ratings.

    Returns
    -------
    data : RatingsData
        ``users``, ``items`` (int64), ``ratings`` (float64, whole stars 1..5),
        ``timestamps`` (int64 seconds) and ``titles`` (film id -> title).
    expected : numpy.ndarray of float64, shape (n_ratings,)
        The noise-free score of each rating, ``3.2 + offset + quality + taste[genre]``
        clipped to [1, 5]: what a perfect model of the tastes would predict.
    taste : numpy.ndarray of float64, shape (n_users, len(GENRES))
        Each user's taste for each genre (row u - 1 is user u).
    """
    low, high = (int(k) for k in ratings_per_user)
    if not (n_users >= 1 and 1 <= low <= high and n_items >= 1):
        raise ValueError(f"need n_users >= 1, n_items >= 1 and 1 <= low <= high in "
                         f"ratings_per_user, got {n_users}, {n_items}, {ratings_per_user}")
    rng = np.random.default_rng(seed)
    genre = np.arange(n_items) % len(GENRES)
    quality = rng.normal(0, QUALITY_SD, n_items)
    taste = rng.normal(0, TASTE_SD, (n_users, len(GENRES)))
    offset = rng.normal(0, OFFSET_SD, n_users)
    users, items = [], []
    for u in range(n_users):
        weight = np.exp(taste[u, genre])
        k = min(int(rng.integers(low, high + 1)), n_items)
        seen = rng.choice(n_items, size=k, replace=False, p=weight / weight.sum())
        users.append(np.full(k, u))
        items.append(seen)
    u, i = np.concatenate(users), np.concatenate(items)
    expected = np.clip(MEAN + offset[u] + quality[i] + taste[u, genre[i]], 1, 5)
    stars = np.clip(np.rint(expected + rng.normal(0, NOISE_SD, len(u))), 1, 5)
    # when each film was rated: a random time within the year
    times = START + rng.integers(0, SPAN, len(u))
    titles = {j + 1: f"{GENRES[genre[j]].capitalize()} film {j // len(GENRES) + 1}"
              for j in range(n_items)}
    data = RatingsData(u.astype(np.int64) + 1, i.astype(np.int64) + 1, stars.astype(float),
                       times.astype(np.int64), titles)
    return data, expected, taste

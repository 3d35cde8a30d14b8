"""Demo section: the RBM recommender on generated ratings; held-out RMSE and top films."""

from __future__ import annotations

import time

import numpy as np
import torch

from harmonium.demo import Caption, Section
from harmonium.demo.ratings import GENRES, taste_ratings

__all__ = ["run"]

N_HIDDEN, EPOCHS, TEST_FRACTION = 50, 40, 0.1


def _rmse(predicted, ratings) -> float:
    return float(np.sqrt(np.mean((np.asarray(predicted) - ratings) ** 2)))


def _example_user(data, train, taste) -> int:
    """The user whose liked and disliked genres differ most (a clear example), 1-based."""
    users = np.unique(data.users[train])
    spread = taste[users - 1].max(1) - taste[users - 1].min(1)
    return int(users[np.argmax(spread)])


def run(generator: torch.Generator) -> Section:
    """Fit the item-based RBM recommender on generated ratings, compare it with baselines."""
    from harmonium.ratings.splits import split_ratings
    from harmonium.tasks.recommend import RBMRecommender

    data, expected, taste = taste_ratings(seed=int(torch.randint(2**31, (1,),
                                                                 generator=generator)))
    train, test = split_ratings("temporal", data.users, data.timestamps,
                                test_fraction=TEST_FRACTION, seed=0)
    columns = (data.users, data.items, data.ratings)
    tic = time.perf_counter()
    model = RBMRecommender(N_HIDDEN, epochs=EPOCHS).fit(
        *(c[train] for c in columns), generator=generator, progress=False)
    seconds = time.perf_counter() - tic
    users, items, held = (c[test] for c in columns)
    rmse = {
        "mean of the training ratings": _rmse(data.ratings[train].mean(), held),
        "bias model: mean + user offset + film offset": _rmse(
            model.baseline_.predict(users, items), held),
        f"RBM recommender (item-based, {N_HIDDEN} hidden units)": _rmse(
            model.predict(users, items), held),
        "the generator's own noise-free scores (the floor)": _rmse(expected[test], held),
    }
    rbm, bias = (list(rmse.values())[k] for k in (2, 1))
    user = _example_user(data, train, taste)
    liked, disliked = (GENRES[k] for k in (np.argmax(taste[user - 1]),
                                           np.argmin(taste[user - 1])))
    ids, scores = model.recommend(user, k=5)
    rows = [["rank", "film", "predicted stars"]] + [
        [str(rank), data.titles[int(item)], f"{score:.2f}"]
        for rank, (item, score) in enumerate(zip(ids.tolist(), scores, strict=True), 1)]
    tables = [
        (Caption("rmse", "Held-out error: {ref} scores each predictor on the newest "
                 f"{TEST_FRACTION:.0%} of every user's ratings, which no model saw. The "
                 f"RBM's root-mean-square error is {rbm:.3f} stars, the bias model's "
                 f"{bias:.3f}" + (": the RBM has learned the users' tastes, not only who "
                                  "rates high and which films are good." if rbm < bias
                                  else "."),
                 "Root-mean-square error of the predicted stars on held-out ratings "
                 "(lower is better), generated taste-model data."),
         [["predictor", "held-out RMSE (stars)"]]
         + [[name, f"{value:.3f}"] for name, value in rmse.items()]),
        (Caption("recommendations", f"Recommendations: {{ref}} lists the five films the "
                 f"model ranks highest for user {user}, among the films that user has not "
                 f"rated. The generator gave this user a strong taste for {liked} and "
                 f"a dislike of {disliked}.",
                 f"Top five unrated films for user {user} (generated data: the titles "
                 "name each film's genre)."), rows),
    ]
    return Section(
        title="RBM recommender on generated ratings",
        summary=(f"Recommender: item-based RBM on {len(train)} generated ratings in "
                 f"{seconds:.1f} s; held-out RMSE {rbm:.3f} against the bias model's "
                 f"{bias:.3f}"),
        paragraphs=[
            "The lecture's second demo: the restricted Boltzmann machine for collaborative "
            "filtering of Salakhutdinov, Mnih and Hinton (2007), here in its item-based "
            "form (one RBM per film, whose softmax visible units are the star ratings its "
            "users gave).",
            f"The data are generated, not real: {len(np.unique(data.users))} users rate "
            f"{len(data.ratings)} times among {len(data.titles)} films of "
            f"{len(GENRES)} genres; each user has a taste for each genre and watches "
            "more of the genres they like, each film a quality, and a rating is the sum "
            "of the user's offset, the film's quality and the user's taste for its genre "
            "plus noise, rounded to 1..5 stars (harmonium.demo.ratings). 'harmonium data "
            "export ratings -o ratings.csv' writes a draw of the same model as a file.",
            "On MovieLens (downloaded from grouplens.org; nothing here downloads it), the "
            "same protocol runs as 'harmonium recommend evaluate ml-latest-small "
            "--protocol temporal'.",
        ],
        tables=tables,
    )

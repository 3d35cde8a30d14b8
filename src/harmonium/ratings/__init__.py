"""Explicit ratings: (user, item, rating) data, its files and its metrics.

- :mod:`~harmonium.ratings.ids`: id validation and id <-> index maps,
- :mod:`~harmonium.ratings.columns`: :class:`RatingsData`, the accepted column names
  (:data:`RATING_COLUMNS`) and parsing of arrays and tables,
- :mod:`~harmonium.ratings.scale`: rating levels and each rating's level,
- :mod:`~harmonium.ratings.pairs`: the check for repeated (user, item) pairs,
- :mod:`~harmonium.ratings.table`: known ratings as index arrays (what a model keeps),
- :mod:`~harmonium.ratings.files`: rating files and MovieLens folders,
- :mod:`~harmonium.ratings.metrics`: RMSE, MAE, precision and recall at k,
- :mod:`~harmonium.ratings.splits`: evaluation protocols (random, temporal,
  leave-users-out),
- :mod:`~harmonium.ratings.evaluation`: leak-free ranking metrics (precision, recall,
  nDCG, MAP at k) and errors per group (known / new items, light / heavy users),
- :mod:`~harmonium.ratings.blend`: linear blends of predictors fitted on validation
  ratings,
- :mod:`~harmonium.ratings.bias`: the regularised bias model (global mean plus shrunk
  user and item offsets), the recommender's fallback and a baseline.

The estimator that learns from ratings is :class:`harmonium.RBMRecommender`
(:mod:`harmonium.tasks.recommend`).
"""

from harmonium.ratings.bias import BiasModel, fit_biases, shrunk_item_means
from harmonium.ratings.blend import Blend, blend
from harmonium.ratings.columns import RATING_COLUMNS, RatingsData
from harmonium.ratings.evaluation import error_groups, evaluate_recommender, ranking_metrics
from harmonium.ratings.files import load_movielens, load_ratings_csv, load_titles
from harmonium.ratings.metrics import rating_metrics
from harmonium.ratings.splits import PROTOCOLS, split_ratings

__all__ = [
    "PROTOCOLS",
    "RATING_COLUMNS",
    "BiasModel",
    "Blend",
    "RatingsData",
    "blend",
    "error_groups",
    "evaluate_recommender",
    "fit_biases",
    "load_movielens",
    "load_ratings_csv",
    "load_titles",
    "ranking_metrics",
    "rating_metrics",
    "shrunk_item_means",
    "split_ratings",
]

"""Old home of the RBM recommender, kept so existing imports keep working.

The estimator lives in :mod:`harmonium.tasks.recommend`; id maps, parsing, loaders and
metrics of rating data in :mod:`harmonium.ratings`.
"""

from harmonium.ratings.metrics import rating_metrics
from harmonium.tasks.recommend import ITEM_MEAN_DAMPING, RBMRecommender

__all__ = ["ITEM_MEAN_DAMPING", "RBMRecommender", "rating_metrics"]

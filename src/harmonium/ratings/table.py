"""Known ratings as index arrays over user and item id maps (what a model trains on)."""

from __future__ import annotations

import numpy as np

from harmonium.ratings.ids import IdMap, as_ids, encode, index_tensor, narrow
from harmonium.ratings.pairs import latest_per_pair

__all__ = ["RatingTable"]

_NO_DUPLICATES = (
    "keep one rating per pair (e.g. harmonium.ratings.load_ratings_csv(..., "
    "duplicates='latest'))"
)


class RatingTable:
    """Ratings as rows ``(u, i, level)`` of indices into id maps and rating levels.

    Parameters
    ----------
    users, items : IdMap
        The known ids; row indices point into them.
    u, i, level : numpy.ndarray of int64, shape (n,)
        User index, item index and rating level of each rating; one row per pair.
    """

    def __init__(self, users: IdMap, items: IdMap, u: np.ndarray, i: np.ndarray,
                 level: np.ndarray):
        self.users, self.items = users, items
        self.u, self.i, self.level = u, i, level

    def __len__(self) -> int:
        return len(self.u)

    @classmethod
    def from_ids(cls, users: np.ndarray, items: np.ndarray, level: np.ndarray) -> RatingTable:
        """A table of the ratings of ``users`` (ids, shape (n,)) on ``items`` at ``level``.

        Raises
        ------
        ValueError
            If a (user, item) pair repeats.
        """
        user_ids, u = encode(users, "users")
        item_ids, i = encode(items, "items")
        latest_per_pair(u, i, users, items, hint=_NO_DUPLICATES)
        return cls(IdMap(user_ids), IdMap(item_ids), u, i, level)

    def updated(self, users: np.ndarray, items: np.ndarray, level: np.ndarray) -> RatingTable:
        """This table with new ratings; a pair already known takes the new rating.

        Parameters
        ----------
        users, items : numpy.ndarray, shape (m,)
            Ids; unknown ones are appended to the id maps.
        level : numpy.ndarray of int64, shape (m,)

        Returns
        -------
        RatingTable
            Old rows of pairs not re-rated, then the ``m`` new rows in their order.

        Raises
        ------
        ValueError
            If a (user, item) pair repeats among the new ratings.
        """
        users_map, items_map = self.users.extended(users), self.items.extended(items)
        nu, ni = users_map.index(users), items_map.index(items)
        latest_per_pair(nu, ni, users, items, hint=_NO_DUPLICATES)
        width = len(items_map)
        keep = ~np.isin(self.u * width + self.i, nu * width + ni)
        return RatingTable(users_map, items_map, np.r_[self.u[keep], nu],
                           np.r_[self.i[keep], ni], np.r_[self.level[keep], level])

    def lookup(self, users, items) -> tuple[np.ndarray, np.ndarray]:
        """Indices of (user, item) id pairs, -1 where an id is unknown.

        Parameters
        ----------
        users, items : array-like, shape (n,)

        Returns
        -------
        u, i : numpy.ndarray of int64, shape (n,)

        Raises
        ------
        ValueError
            If ``users`` and ``items`` differ in length.
        """
        u, i = as_ids(users, "users"), as_ids(items, "items")
        if len(u) != len(i):
            raise ValueError(f"users and items must have the same length, got {len(u)} and "
                             f"{len(i)}")
        return self.users.index(u), self.items.index(i)

    def grouped(self, by: str) -> tuple[np.ndarray, np.ndarray, int, int]:
        """The rows as (case, unit) pairs: cases are users (``by="user"``) or items.

        Returns
        -------
        case, unit : numpy.ndarray of int64, shape (n,)
        n_cases, n_units : int
        """
        if by == "user":
            return self.u, self.i, len(self.users), len(self.items)
        return self.i, self.u, len(self.items), len(self.users)

    def item_means(self, values: np.ndarray, damping: float) -> tuple[float, np.ndarray]:
        """The global mean rating and each item's mean shrunk toward it.

        Parameters
        ----------
        values : numpy.ndarray of float, shape (k,)
            Rating value of each level.
        damping : float
            Pseudo-ratings at the global mean added to each item.

        Returns
        -------
        global_mean : float
        item_mean : numpy.ndarray of float64, shape (n_items,)
        """
        r = values[self.level]
        global_mean = float(r.mean())
        n = np.bincount(self.i, minlength=len(self.items))
        s = np.bincount(self.i, r, minlength=len(self.items))
        return global_mean, (s + damping * global_mean) / (n + damping)

    def to_state(self, n_levels: int) -> dict:
        """Ids as JSON lists and indices as the narrowest integer tensors that hold them.

        Raises
        ------
        TypeError
            If an id is not an int, float, str or bool.
        """
        return {
            "users": self.users.to_json("user"),
            "items": self.items.to_json("item"),
            "ratings": {
                "user": index_tensor(self.u, len(self.users)),
                "item": index_tensor(self.i, len(self.items)),
                "level": index_tensor(self.level, n_levels),
            },
        }

    @classmethod
    def from_state(cls, state: dict) -> RatingTable:
        """The table saved by :meth:`to_state` (any integer dtype of the indices)."""
        r = state["ratings"]
        return cls(
            IdMap(narrow(state["users"])), IdMap(narrow(state["items"])),
            *(r[key].cpu().numpy().astype(np.int64) for key in ("user", "item", "level")),
        )

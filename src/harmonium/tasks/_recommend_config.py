"""The RBMRecommender's settings, checked (the constructor's arguments)."""

from __future__ import annotations

from harmonium._numerics import check_positive_int

__all__ = ["ORIENTATIONS", "checked_settings"]

ORIENTATIONS = ("user", "item")


def checked_settings(*, n_hidden, orientation, rating_scale, epochs, batch_size,
                     learning_rate, momentum, weight_decay, cd_steps, weight_std,
                     factors) -> dict:
    """The constructor's training settings, each checked and normalised.

    Returns
    -------
    dict
        Attribute name -> value (ints, floats, tuples; ``factors`` an int or None).

    Raises
    ------
    ValueError
        Non-positive counts or steps, momentum outside [0, 1), negative weight decay,
        an unknown orientation, no Gibbs steps.
    """
    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation must be 'user' or 'item', got {orientation!r}")
    for name, value in (("learning_rate", learning_rate), ("weight_std", weight_std)):
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}")
    if not (0 <= momentum < 1 and weight_decay >= 0):
        raise ValueError(f"momentum must be in [0, 1) and weight_decay >= 0, got "
                         f"{momentum} and {weight_decay}")
    steps = tuple(check_positive_int(t, "cd_steps") for t in cd_steps)
    if not steps:
        raise ValueError("cd_steps must hold at least one number of Gibbs steps")
    return {
        "n_hidden": check_positive_int(n_hidden, "n_hidden"), "orientation": orientation,
        "rating_scale": None if rating_scale is None else tuple(rating_scale),
        "epochs": check_positive_int(epochs, "epochs"),
        "batch_size": check_positive_int(batch_size, "batch_size"),
        "learning_rate": float(learning_rate), "momentum": float(momentum),
        "weight_decay": float(weight_decay), "weight_std": float(weight_std),
        "cd_steps": steps,
        "factors": None if factors is None else check_positive_int(factors, "factors"),
    }

"""What digit a picture shows, as the demo's independent reader of generated digits."""

from __future__ import annotations

import torch

__all__ = ["K_NEIGHBOURS", "read_digits"]

# neighbours that vote in :func:`read_digits`
K_NEIGHBOURS = 5


def read_digits(images: torch.Tensor, reference: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
    """The class of each image by a vote of its nearest labelled reference digits.

    A k-nearest-neighbour classifier (k = :data:`K_NEIGHBOURS`, Euclidean distance)
    that no model of the demo has trained: it reads generated digits as a person would
    compare them with real ones.

    Parameters
    ----------
    images : torch.Tensor, shape (n, d)
        Pictures to read, values in [0, 1].
    reference : torch.Tensor, shape (m, d)
        Real digits (the training images).
    labels : torch.Tensor of int64, shape (m,)
        Their classes.

    Returns
    -------
    torch.Tensor of int64, shape (n,)
        The most frequent class among the ``K_NEIGHBOURS`` nearest reference digits.
    """
    if images.ndim != 2 or reference.ndim != 2 or images.shape[1] != reference.shape[1]:
        raise ValueError(f"images (n, d) and reference (m, d) must have the same width, got "
                         f"{tuple(images.shape)} and {tuple(reference.shape)}")
    distance = torch.cdist(images.float(), reference.float())
    nearest = distance.topk(K_NEIGHBOURS, largest=False).indices
    return torch.mode(labels[nearest], dim=1).values

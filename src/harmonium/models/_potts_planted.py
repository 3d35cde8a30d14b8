"""A Potts model with a few planted strong couplings: the ground truth of generated
alignments on which contact prediction is measured (tests, benchmark, docs example)."""

from __future__ import annotations

import torch

from harmonium._numerics import check_positive_int

__all__ = ["planted_potts_model"]


def planted_potts_model(n_sites: int, n_states: int, n_contacts: int, *,
                        strength: float = 1.0, field_std: float = 0.5,
                        generator: torch.Generator | None = None,
                        dtype: torch.dtype = torch.float32):
    """A Potts model whose only couplings are ``n_contacts`` planted pairs.

    Fields are drawn from ``N(0, field_std**2)``; each planted pair ``(i, j)``, chosen
    uniformly among the pairs of distinct sites, gets a coupling block ``J_ij(a, b)``
    with entries drawn from ``N(0, strength**2)``; every other pair is uncoupled.

    Parameters
    ----------
    n_sites, n_states : int
        ``L >= 2`` and ``q >= 2``.
    n_contacts : int
        Planted pairs, in [1, L (L - 1) / 2].
    strength, field_std : float
        Standard deviations of the planted couplings and of the fields (> 0, >= 0).
    generator : torch.Generator, optional
    dtype : torch.dtype

    Returns
    -------
    model : harmonium.PottsModel
    contacts : torch.Tensor of int64, shape (n_contacts, 2)
        The planted pairs ``(i, j)``, ``i < j``, sorted.
    """
    from harmonium.models.potts import PottsModel  # the model module re-exports this one

    model = PottsModel(n_sites, n_states, dtype=dtype)
    n_pairs = model.n_sites * (model.n_sites - 1) // 2
    n_contacts = check_positive_int(n_contacts, "n_contacts")
    if n_contacts > n_pairs:
        raise ValueError(f"n_contacts must be at most L (L - 1) / 2 = {n_pairs}, "
                         f"got {n_contacts}")
    if not (strength > 0 and field_std >= 0):
        raise ValueError(f"strength must be > 0 and field_std >= 0, got {strength} and "
                         f"{field_std}")
    i, j = torch.triu_indices(model.n_sites, model.n_sites, offset=1)
    chosen = torch.randperm(n_pairs, generator=generator)[:n_contacts].sort().values
    contacts = torch.stack([i[chosen], j[chosen]], 1)
    q = model.n_states
    with torch.no_grad():
        model.layer.params.normal_(0.0, field_std, generator=generator)
        for a, b in contacts.tolist():
            block = torch.randn(q, q, generator=generator, dtype=dtype) * strength
            model.couplings[a, :, b, :] = block
            model.couplings[b, :, a, :] = block.T
    return model, contacts

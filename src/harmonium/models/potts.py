"""The pairwise Potts model of aligned sequences (direct-coupling analysis).

``L`` sites, each in one of ``q`` states (21 for protein alignments: 20 amino acids and
the gap), with fields ``h_i(a)`` and couplings ``J_ij(a, b)``:

    E(x) = -sum_i h_i(x_i) - sum_{i<j} J_ij(x_i, x_j),        p(x) = exp(-E(x)) / Z

With ``x`` one-hot (``L q`` indicators) this is the Boltzmann machine's
``E = -1/2 x'Jx - h'x`` with ``J`` an ``(L q, L q)`` symmetric matrix whose diagonal
``q x q`` blocks are zero; it is stored as ``couplings[i, a, j, b] = J_ij(a, b)``. The
fields are a :class:`~harmonium.units.Potts` layer. Sequences come in as integer states
``(n_samples, L)`` in ``[0, q)``; ``read_fasta``, ``encode_sequences`` and
``sequence_weights`` (re-exported here) read and weight FASTA/A2M alignments.

Site ``i`` given all the others is a Potts unit with logits
``h_i(a) + sum_{j != i} J_ij(a, x_j)``: Gibbs sampling updates one site at a time, and
the pseudo-likelihood ``sum_i log p(x_i | x_-i)`` needs no partition function. Training
by pseudo-likelihood maximisation (plmDCA) is :func:`harmonium.training.potts.fit_potts`;
contact prediction is :meth:`PottsModel.contact_scores`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from harmonium._numerics import check_positive_int, generator_device
from harmonium.io import savable, state_tensor, state_value
from harmonium.models._potts_alignment import (
    AMINO_ACIDS,
    decode_sequences,
    encode_sequences,
    read_fasta,
    sequence_weights,
    write_fasta,
)
from harmonium.models._potts_gauge import (
    apc,
    frobenius_scores,
    symmetric_couplings,
    zero_sum_gauge,
)
from harmonium.models._potts_planted import planted_potts_model
from harmonium.units.potts import Potts

__all__ = ["AMINO_ACIDS", "MAX_EXACT_STATES", "PottsModel", "decode_sequences",
           "encode_sequences", "planted_potts_model", "read_fasta", "sequence_weights",
           "write_fasta", "zero_sum_gauge"]

#: the most sequences ``q**L`` that exact enumeration visits
MAX_EXACT_STATES = 2**22


@savable
class PottsModel(nn.Module):
    """Pairwise Potts model: fields ``h_i(a)``, symmetric couplings ``J_ij(a, b)``.

    Parameters
    ----------
    n_sites : int
        Sequence length ``L`` (>= 2).
    n_states : int
        States per site ``q`` (>= 2); 21 for amino acids with the gap.
    alphabet : str, optional
        The letter of each state (``AMINO_ACIDS`` for proteins), kept with the model for
        reading and writing sequences as text.
    coupling_std : float
        Standard deviation of the initial couplings (0: start from independent sites).
    generator : torch.Generator, optional
        Source of the initial couplings.
    dtype : torch.dtype
        Parameter dtype (float32 by default).

    Attributes
    ----------
    layer : harmonium.units.Potts
        The fields, ``layer.bias`` of shape (L, q).
    couplings : torch.nn.Parameter, shape (L, q, L, q)

    Examples
    --------
    >>> import torch
    >>> from harmonium import PottsModel
    >>> model = PottsModel(5, 3, coupling_std=0.5, generator=torch.Generator().manual_seed(0))
    >>> x = model.sample(4, sweeps=20, generator=torch.Generator().manual_seed(1))
    >>> x.shape, x.dtype
    (torch.Size([4, 5]), torch.int64)
    """

    def __init__(self, n_sites: int, n_states: int = 21, *, alphabet: str | None = None,
                 coupling_std: float = 0.0, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        n_sites = check_positive_int(n_sites, "n_sites", minimum=2)
        self.layer = Potts(n_sites, n_states).to(dtype)
        if alphabet is not None and not (isinstance(alphabet, str) and len(alphabet) == n_states
                                         and len(set(alphabet)) == n_states):
            raise ValueError(f"alphabet must be a string of {n_states} distinct letters (one "
                             f"per state), got {alphabet!r}")
        self.alphabet = alphabet
        if not (isinstance(coupling_std, (int, float)) and 0 <= coupling_std < float("inf")):
            raise ValueError(f"coupling_std must be a finite number >= 0, got {coupling_std!r}")
        j = torch.randn(*self.layer.shape, *self.layer.shape, generator=generator,
                        dtype=dtype) * coupling_std
        self.couplings = nn.Parameter(symmetric_couplings(j))

    # ----- shapes and views -----------------------------------------------------------
    @property
    def n_sites(self) -> int:
        """Sequence length ``L``."""
        return self.layer.n_units

    @property
    def n_states(self) -> int:
        """States per site ``q``."""
        return self.layer.n_states

    @property
    def fields(self) -> torch.Tensor:
        """Fields ``h``, shape (L, q) (a view of the layer's parameters)."""
        return self.layer.bias

    def extra_repr(self) -> str:
        letters = "" if self.alphabet is None else f", alphabet={self.alphabet!r}"
        return f"n_sites={self.n_sites}, n_states={self.n_states}{letters}"

    def _j2d(self) -> torch.Tensor:
        n = self.n_sites * self.n_states
        return self.couplings.reshape(n, n)

    # ----- validation -----------------------------------------------------------------
    def check_sequences(self, x, name: str = "x") -> torch.Tensor:
        """Validate integer sequences (n, L) or (L,) with states in ``[0, q)``.

        Returns
        -------
        torch.Tensor of int64, shape (n, L), on the model's device.

        Raises
        ------
        TypeError
            For non-integer data (floats must hold whole numbers).
        ValueError
            For the wrong shape, an empty batch, or states outside ``[0, q)``.
        """
        t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
        if t.dtype.is_complex or t.dtype == torch.bool or (
                t.dtype.is_floating_point and not (torch.isfinite(t) & (t == t.round())).all()):
            raise TypeError(f"{name} must hold integer states in [0, {self.n_states}), got "
                            f"dtype {t.dtype}")
        t = t[None] if t.dim() == 1 else t
        if t.dim() != 2 or t.shape[1] != self.n_sites or t.shape[0] == 0:
            raise ValueError(f"{name} must have shape (n_samples, {self.n_sites}) with "
                             f"n_samples >= 1, got {tuple(t.shape)}")
        t = t.to(device=self.couplings.device, dtype=torch.int64)
        if ((t < 0) | (t >= self.n_states)).any():
            raise ValueError(f"{name} must hold states in [0, {self.n_states}), got values "
                             f"from {int(t.min())} to {int(t.max())}")
        return t

    def one_hot(self, x) -> torch.Tensor:
        """One-hot states of integer sequences, (n, L) -> (n, L, q) in the model's dtype."""
        return self.layer.states_from_indices(self.check_sequences(x))

    # ----- energy and conditionals ----------------------------------------------------
    def energy_one_hot(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`energy` of one-hot states (n, L, q), unchecked; shape (n,)."""
        flat = x.flatten(1)
        return -0.5 * ((flat @ self._j2d()) * flat).sum(1) + self.layer.energy(x)

    def energy(self, x) -> torch.Tensor:
        """Energy ``E(x) = -sum_i h_i(x_i) - sum_{i<j} J_ij(x_i, x_j)``.

        Parameters
        ----------
        x : array-like of int, shape (n, L) or (L,)

        Returns
        -------
        torch.Tensor, shape (n,)
        """
        return self.energy_one_hot(self.one_hot(x))

    def logits_one_hot(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`site_logits` of one-hot states (n, L, q), unchecked; shape (n, L, q)."""
        return (x.flatten(1) @ self._j2d()).view(x.shape) + self.fields

    def site_logits(self, x) -> torch.Tensor:
        """Log-weights of each state of each site given the rest of the sequence.

        ``log p(x_i = a | x_-i) = logits[i, a] - logsumexp_b logits[i, b]`` with
        ``logits[i, a] = h_i(a) + sum_{j != i} J_ij(a, x_j)``.

        Parameters
        ----------
        x : array-like of int, shape (n, L)

        Returns
        -------
        torch.Tensor, shape (n, L, q)
        """
        return self.logits_one_hot(self.one_hot(x))

    def pseudo_log_likelihood(self, x) -> torch.Tensor:
        """``sum_i log p(x_i | x_-i)`` of each sequence, in nats.

        Parameters
        ----------
        x : array-like of int, shape (n, L)

        Returns
        -------
        torch.Tensor, shape (n,)
        """
        x1 = self.one_hot(x)
        return (torch.log_softmax(self.logits_one_hot(x1), -1) * x1).sum((1, 2))

    # ----- Gibbs sampling -------------------------------------------------------------
    @torch.no_grad()
    def gibbs_one_hot_(self, x: torch.Tensor, sweeps: int, *, generator=None) -> torch.Tensor:
        """Gibbs sweeps over one-hot states (n, L, q) in place, sites in order 0..L-1."""
        q, j2d = self.n_states, self._j2d()
        sites = [self.layer.with_params(self.layer.params.detach()[:, i:i + 1])
                 for i in range(self.n_sites)]
        for _ in range(sweeps):
            for i, site in enumerate(sites):
                inputs = x.flatten(1) @ j2d[i * q:(i + 1) * q].T  # (n, q)
                x[:, i] = site.sample_from_inputs(inputs[:, None], generator=generator)[:, 0]
        return x

    def gibbs(self, x, sweeps: int = 1, *, generator: torch.Generator | None = None):
        """Gibbs sweeps: each site in turn redrawn from ``p(x_i | x_-i)``.

        Parameters
        ----------
        x : array-like of int, shape (n, L)
            Initial sequences of ``n`` independent chains (not modified).
        sweeps : int
            Sweeps over the sites (>= 1).
        generator : torch.Generator, optional

        Returns
        -------
        torch.Tensor of int64, shape (n, L)
        """
        sweeps = check_positive_int(sweeps, "sweeps")
        x1 = self.one_hot(x)
        return self.gibbs_one_hot_(x1, sweeps, generator=generator).argmax(-1)

    def sample(self, n_samples: int, sweeps: int = 100, *,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n_samples`` independent chains from uniformly random sequences.

        Returns
        -------
        torch.Tensor of int64, shape (n_samples, L)
        """
        n_samples = check_positive_int(n_samples, "n_samples")
        sweeps = check_positive_int(sweeps, "sweeps")
        x = torch.randint(self.n_states, (n_samples, self.n_sites), generator=generator,
                          device=generator_device(generator, self.couplings.device))
        x1 = self.layer.states_from_indices(x.to(self.couplings.device))
        return self.gibbs_one_hot_(x1, sweeps, generator=generator).argmax(-1)

    # ----- exact enumeration ----------------------------------------------------------
    @torch.no_grad()
    def log_partition_exact(self) -> torch.Tensor:
        """``log Z = log sum_x exp(-E(x))`` over all ``q**L`` sequences (a scalar).

        Raises
        ------
        ValueError
            When ``q**L`` exceeds ``MAX_EXACT_STATES`` (2**22).
        """
        if self.n_states ** self.n_sites > MAX_EXACT_STATES:
            raise ValueError(f"exact enumeration visits q**L = {self.n_states}**{self.n_sites}"
                             f" sequences; at most {MAX_EXACT_STATES} are allowed")
        parts = [torch.logsumexp(-self.energy_one_hot(x), 0)
                 for x in self.layer.enumerate_states()]
        return torch.logsumexp(torch.stack(parts), 0)

    @torch.no_grad()
    def log_likelihood_exact(self, x, log_z: torch.Tensor | None = None) -> torch.Tensor:
        """``log p(x)`` of each sequence, exactly (by :meth:`log_partition_exact`).

        Returns
        -------
        torch.Tensor, shape (n,)
        """
        log_z = self.log_partition_exact() if log_z is None else log_z
        return -self.energy(x) - log_z

    # ----- gauge and contacts ---------------------------------------------------------
    @torch.no_grad()
    def zero_sum_gauge_(self) -> PottsModel:
        """Move fields and couplings to the zero-sum gauge in place (``p`` unchanged)."""
        fields, couplings = zero_sum_gauge(self.fields.detach(), self.couplings.detach())
        self.layer.params.copy_(fields[None])
        self.couplings.copy_(couplings)
        return self

    @torch.no_grad()
    def contact_scores(self, *, corrected: bool = True, ignore_states=()) -> torch.Tensor:
        """Contact score of each pair of sites (plmDCA's; higher: more likely in contact).

        The Frobenius norm of each zero-sum-gauged coupling block ``J_ij`` over the
        states not in ``ignore_states``, then with ``corrected`` the average-product
        correction.

        Parameters
        ----------
        corrected : bool
            Apply the APC (needs ``L >= 3``).
        ignore_states : sequence of int
            States left out of the norms (the gap state of a protein alignment).

        Returns
        -------
        torch.Tensor, shape (L, L)
            Symmetric, zero on the diagonal.
        """
        bad = [s for s in ignore_states if not 0 <= int(s) < self.n_states]
        if bad:
            raise ValueError(f"ignore_states must be states in [0, {self.n_states}), got {bad}")
        scores = frobenius_scores(self.couplings.detach(), [int(s) for s in ignore_states])
        return apc(scores) if corrected else scores

    # ----- saving ---------------------------------------------------------------------
    def _to_state(self) -> dict:
        return {"n_sites": self.n_sites, "n_states": self.n_states,
                "alphabet": self.alphabet, "fields": self.fields, "couplings": self.couplings}

    @classmethod
    def _from_state(cls, state: dict) -> PottsModel:
        own = "PottsModel"
        n, q = (state_value(state, key, int, owner=own) for key in ("n_sites", "n_states"))
        if n < 2 or q < 2:
            raise ValueError(f"the {own} state's sizes must be n_sites >= 2 and n_states >= 2,"
                             f" got {n} and {q}")
        fields = state_tensor(state, "fields", (n, q), owner=own)  # bounds n, q by the file
        couplings = state_tensor(state, "couplings", (n, q, n, q), owner=own, dtype=fields.dtype)
        alphabet = state_value(state, "alphabet", (str, type(None)), owner=own)
        model = cls(n, q, alphabet=alphabet, dtype=fields.dtype).to(fields.device)
        symmetric = symmetric_couplings(couplings)
        scale = float(couplings.abs().max()) if couplings.numel() else 0.0
        if not torch.allclose(symmetric, couplings, rtol=0.0, atol=1e-5 * max(scale, 1.0)):
            raise ValueError(f"the {own} state's couplings must be symmetric "
                             "(J[i, a, j, b] = J[j, b, i, a]) with zero blocks J[i, :, i, :]")
        with torch.no_grad():
            model.layer.params.copy_(fields[None])
            model.couplings.copy_(symmetric)
        return model

"""Multiple sequence alignments: FASTA files, the amino-acid alphabet, sequence weights.

An alignment is ``n`` sequences of the same length ``L``; as a model's input it is an
integer array ``(n, L)`` of states in ``[0, q)``. Protein alignments use the 21-letter
alphabet ``ACDEFGHIKLMNPQRSTVWY-`` (gap last, state 20). In A2M/A3M files (HHblits,
jackhmmer) lowercase letters and ``.`` are insertions relative to the query and are
dropped; the ambiguous and rare letters ``B J O U X Z`` are read as gaps, as plmDCA does.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

__all__ = ["AMINO_ACIDS", "decode_sequences", "encode_sequences", "read_fasta",
           "sequence_weights", "write_fasta"]

#: the 20 amino acids and the gap, in state order
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY-"
_READ_AS_GAP = "BJOUXZ"
# sequence pairs compared at once when weighting (bounds the memory of the overlaps)
_CHUNK_ELEMENTS = 2**24


def read_fasta(path: str | os.PathLike) -> tuple[list[str], list[str]]:
    """Names and sequences of a FASTA (or A2M/A3M) file, insertions removed.

    Parameters
    ----------
    path : str or path

    Returns
    -------
    names : list of str
        The header lines without ``>``.
    sequences : list of str
        Uppercase aligned sequences (lowercase letters and ``.`` dropped).

    Raises
    ------
    ValueError
        When the file holds no sequence or text before the first header.
    """
    names, parts = [], []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if line.startswith(">"):
            names.append(line[1:].strip())
            parts.append([])
        elif line and not names:
            raise ValueError(f"{path}: line {number} comes before the first '>' header; "
                             "expected a FASTA file")
        elif line:
            parts[-1].append("".join(c for c in line if not (c.islower() or c == ".")))
    if not names:
        raise ValueError(f"{path} holds no sequence (expected FASTA: '>' header lines)")
    return names, ["".join(p) for p in parts]


def encode_sequences(sequences, alphabet: str = AMINO_ACIDS) -> torch.Tensor:
    """Aligned sequences as integer states, shape (n, L) (int64).

    Parameters
    ----------
    sequences : sequence of str
        Of equal length.
    alphabet : str
        The letter of each state, in order. With the default amino-acid alphabet the
        letters ``B J O U X Z`` are read as the gap ``-``.

    Raises
    ------
    ValueError
        For no sequence, unequal lengths, or a letter outside the alphabet.
    """
    sequences = list(sequences)
    if not sequences or not sequences[0]:
        raise ValueError("expected at least one non-empty aligned sequence")
    lengths = {len(s) for s in sequences}
    if len(lengths) > 1:
        raise ValueError(f"aligned sequences must have one length, got lengths "
                         f"{sorted(lengths)[:5]}")
    table = {c: i for i, c in enumerate(alphabet)}
    if alphabet == AMINO_ACIDS:
        table.update(dict.fromkeys(_READ_AS_GAP, table["-"]))
    unknown = sorted({c for s in sequences for c in s} - table.keys())
    if unknown:
        raise ValueError(f"letters {''.join(unknown)!r} are not in the alphabet {alphabet!r}")
    return torch.tensor([[table[c] for c in s] for s in sequences], dtype=torch.int64)


def decode_sequences(states, alphabet: str = AMINO_ACIDS) -> list[str]:
    """Integer states (n, L) back to strings of ``alphabet``'s letters."""
    states = torch.as_tensor(states)
    if states.dim() != 2 or int(states.max()) >= len(alphabet) or int(states.min()) < 0:
        raise ValueError(f"states must be (n, L) integers in [0, {len(alphabet)}), got "
                         f"shape {tuple(states.shape)}")
    return ["".join(alphabet[a] for a in row) for row in states.tolist()]


def write_fasta(path: str | os.PathLike, sequences, names=None) -> None:
    """Write sequences (strings) to a FASTA file, named ``seq1, seq2, ...`` by default."""
    names = [f"seq{k + 1}" for k in range(len(sequences))] if names is None else names
    Path(path).write_text("".join(f">{n}\n{s}\n" for n, s in zip(names, sequences,
                                                                    strict=True)))


def sequence_weights(states, n_states: int, identity: float = 0.8) -> torch.Tensor:
    """plmDCA's sequence weights: one over the number of sequences within ``identity``.

    Sequence ``n`` gets ``1 / #{m : fraction of identical sites of n and m >= identity}``
    (itself included), so a cluster of near-duplicates counts about once; the sum is the
    effective number of sequences ``B_eff``.

    Parameters
    ----------
    states : torch.Tensor of int, shape (n, L)
    n_states : int
        ``q``.
    identity : float
        In (0, 1]; plmDCA uses 0.8 (0.9 for viral families).

    Returns
    -------
    torch.Tensor of float64, shape (n,)
    """
    if not 0 < identity <= 1:
        raise ValueError(f"identity must be in (0, 1], got {identity!r}")
    states = torch.as_tensor(states)
    x = torch.nn.functional.one_hot(states, n_states).flatten(1).to(torch.float32)
    n, length = states.shape
    counts = torch.empty(n, dtype=torch.float64)
    rows = max(1, _CHUNK_ELEMENTS // n)
    for a in range(0, n, rows):
        same = x[a:a + rows] @ x.T  # identical sites: whole numbers, exact in float32
        counts[a:a + rows] = (same >= identity * length - 1e-6).sum(1).double()
    return 1.0 / counts

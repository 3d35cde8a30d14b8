"""Hopfield layers for PyTorch models (Ramsauer et al. 2020).

Three modules built on the modern Hopfield update ``xi_new = X' p(beta X xi)``:

- :class:`Hopfield`: state patterns (queries) retrieve from stored patterns given at
  call time; with projections it is multi-head attention (a drop-in for self- or
  cross-attention).
- :class:`HopfieldPooling`: learned query patterns retrieve from a set, pooling it to a
  fixed number of vectors (multiple-instance learning, set classification).
- :class:`HopfieldLayer`: learned stored patterns and their values; the input retrieves
  from them (a lookup / memory layer, or a classifier with prototypes).

Defaults that retrieve. Similarities are computed between layer-normalised inputs
(``normalize=True``, no learned affine), so every compared vector has squared norm
about its width, and ``beta`` defaults to ``1 / sqrt(head_size)``, the width of one head
(each head compares its own slice): a stored pattern then scores ``sqrt(width)``
against itself and O(1) against unrelated patterns, which separates them after one
step for head widths of 64 and more (tested: 50 patterns of 512 units, 10% flipped, 1,
4 and 8 heads). The projections start as one random orthogonal map shared by queries,
keys and values, with its transpose on the output, so an untrained :class:`Hopfield`
returns the stored pattern a query is closest to, exactly as the memory does; training
moves them like any attention weights. Values are never normalised: outputs are
combinations of the stored patterns as given.

Every layer also takes ``separation`` (``"softmax"``, ``"sparsemax"``, ``"entmax15"``:
:mod:`harmonium.sparse`), ``update_steps_max`` / ``update_steps_eps`` (iterated updates
of the projected states, as in hopfield-layers) and ``dropout`` (on the association
matrix, training mode only). Every module has ``energy(...)``, the modern Hopfield
energy of its projected queries (summed over heads), and ``energy_trace(...)``, the
energies along one retrieval, which never increase.

:mod:`harmonium.nn.hflayers` holds ``Hopfield``, ``HopfieldPooling`` and
``HopfieldLayer`` with hopfield-layers' constructor arguments, meanings, shapes and
parameter counts, for code ported from ``hflayers``.
"""

from harmonium.nn._layers import Hopfield, HopfieldPooling
from harmonium.nn._lookup import HopfieldLayer

__all__ = ["Hopfield", "HopfieldLayer", "HopfieldPooling"]

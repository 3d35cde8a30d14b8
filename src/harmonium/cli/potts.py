"""``harmonium potts``: fit a Potts model to an alignment, predict contacts, sample.

Alignments are FASTA/A2M files in the 21-letter amino-acid alphabet (gap included) or
``.npy`` integer arrays ``(n, L)``; models are ``.safetensors`` files.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from harmonium.cli._options import count, counted, fraction, positive, real, seed

ALIGNMENT_HELP = ("aligned sequences: a FASTA/A2M file (amino acids and '-'; lowercase "
                  "insertions dropped) or a .npy integer array (n, L)")


def register(sub) -> None:
    p = sub.add_parser("potts", help="Potts models of aligned sequences (plmDCA contacts)",
                       description="Fit pairwise Potts models to sequence alignments by "
                       "pseudo-likelihood maximisation and predict contacts from them.")
    cmds = p.add_subparsers(dest="potts_command", metavar="ACTION")
    cmds.required = True

    f = cmds.add_parser("fit", help="fit a Potts model to an alignment (plmDCA)",
                        description="Pseudo-likelihood maximisation with L2 penalties "
                        "(full-batch L-BFGS), sequences weighted by 1 / their near-duplicates.")
    f.add_argument("data", help=ALIGNMENT_HELP)
    f.add_argument("-o", "--output", required=True, help="model file (.safetensors)")
    f.add_argument("--states", type=count(2), help="states per site of a .npy alignment "
                   "(default: its largest value + 1)")
    f.add_argument("--lambda-h", type=real(0), default=0.01, help="L2 penalty of the fields")
    f.add_argument("--lambda-j", type=real(0), default=0.01, help="L2 penalty of the couplings")
    f.add_argument("--identity", type=fraction(open_low=True), default=0.8,
                   help="sequences this identical count as one (weights); 1: only exact copies")
    f.add_argument("--epochs", type=count(), default=10, help="full-batch L-BFGS steps")
    f.add_argument("--iterations", type=count(), default=25, help="L-BFGS iterations per step")
    f.add_argument("--checkpoint", default=None, metavar="FILE",
                   help="written after every step; an interrupted fit resumes from it")
    f.add_argument("-q", "--quiet", action="store_true", help="hide the progress bar")
    f.set_defaults(func=_fit, writes=(".safetensors",))

    c = cmds.add_parser("contacts", help="rank pairs of sites by contact score",
                        description="Frobenius norms of the zero-sum-gauged couplings with the "
                        "average-product correction; the gap state is left out.")
    c.add_argument("model", help="model file written by 'harmonium potts fit'")
    c.add_argument("--top", type=count(), help="pairs to list (default: L)")
    c.add_argument("--min-separation", type=count(), default=1,
                   help="rank only pairs i < j with j - i at least this")
    c.add_argument("--truth", help="a model whose coupled pairs are the true contacts (e.g. "
                   "from 'harmonium potts plant'): also print the precision of the list")
    c.set_defaults(func=_contacts)

    s = cmds.add_parser("sample", help="sample sequences by Gibbs sampling",
                        description="Independent Gibbs chains from random sequences.")
    s.add_argument("model", help="model file (.safetensors)")
    s.add_argument("-o", "--output", required=True, help="alignment (.fasta or .npy)")
    s.add_argument("-n", "--n-samples", type=count(), default=1000, help="sequences")
    s.add_argument("--sweeps", type=count(), default=100, help="Gibbs sweeps per chain")
    s.add_argument("--seed", type=seed(), default=0, help="random seed")
    s.set_defaults(func=_sample, writes=(".fasta", ".fa", ".npy"))

    t = cmds.add_parser("plant", help="a random model with a few strong couplings",
                        description="Random fields and a few planted couplings: the ground "
                        "truth of a generated alignment (see docs/potts.md).")
    t.add_argument("-o", "--output", required=True, help="model file (.safetensors)")
    t.add_argument("--sites", type=count(3), default=20, help="sequence length L")
    t.add_argument("--states", type=count(2), default=21,
                   help="states per site (21: amino acids and the gap)")
    t.add_argument("--contacts", type=count(), default=10, help="planted pairs")
    t.add_argument("--strength", type=positive(), default=1.0,
                   help="standard deviation of the planted couplings")
    t.add_argument("--seed", type=seed(), default=0, help="random seed")
    t.set_defaults(func=_plant, writes=(".safetensors",))


def _load_model(path: str, what: str):
    from harmonium.io import load
    from harmonium.models.potts import PottsModel

    model = load(path)
    if not isinstance(model, PottsModel):
        raise ValueError(f"{what} {path} holds a {type(model).__name__}, not a Potts model "
                         "written by 'harmonium potts fit' or 'plant'")
    return model


def _read_alignment(path: str, states: int | None):
    """Integer states (n, L), the number of states and the alphabet (None for .npy)."""
    from harmonium.models._potts_alignment import AMINO_ACIDS, encode_sequences, read_fasta

    if Path(path).suffix.lower() != ".npy":
        if states is not None:
            raise ValueError("--states applies to .npy alignments; a FASTA alignment has the "
                             "21 amino-acid states")
        return encode_sequences(read_fasta(path)[1]), len(AMINO_ACIDS), AMINO_ACIDS
    try:
        arr = np.load(path, allow_pickle=False)
    except EOFError:
        raise ValueError(f"{path}: the file is empty or cut off") from None
    if arr.ndim != 2 or arr.size == 0 or not (np.issubdtype(arr.dtype, np.integer)
                                              or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{path} must hold an (n, L) array of integer states, got "
                         f"{arr.dtype} of shape {arr.shape}")
    if not np.isfinite(arr).all() or (arr != np.round(arr)).any() or arr.min() < 0:
        raise ValueError(f"{path} must hold whole numbers >= 0 (the state of each site)")
    x = torch.from_numpy(arr.astype(np.int64))
    q = max(2, int(x.max()) + 1) if states is None else states
    return x, q, None


def _fit(args) -> None:
    from harmonium.io import save
    from harmonium.models._potts_alignment import sequence_weights
    from harmonium.models.potts import PottsModel
    from harmonium.training.potts import fit_potts

    x, q, alphabet = _read_alignment(args.data, args.states)
    if x.shape[1] < 2:
        raise ValueError(f"{args.data}: the alignment needs at least 2 sites, got {x.shape[1]}")
    model = PottsModel(x.shape[1], q, alphabet=alphabet)
    weights = sequence_weights(x, q, args.identity)
    tic = time.perf_counter()
    history = fit_potts(model, x, weights=weights, lambda_h=args.lambda_h,
                        lambda_j=args.lambda_j, epochs=args.epochs, iterations=args.iterations,
                        checkpoint=args.checkpoint, resume=args.checkpoint is not None,
                        progress=not args.quiet)
    save(model.zero_sum_gauge_(), args.output)
    print(f"fitted {model.n_sites} sites x {q} states on {counted(x.shape[0], 'sequence')} "
          f"(effective {float(weights.sum()):.1f}) in {time.perf_counter() - tic:.1f} s; "
          f"objective {history['loss'][-1]:.4f}; wrote {args.output}")


def _contacts(args) -> None:
    from harmonium.models._potts_gauge import contact_precision

    model = _load_model(args.model, "MODEL")
    gap = [model.alphabet.index("-")] if model.alphabet and "-" in model.alphabet else []
    scores = model.contact_scores(ignore_states=gap)
    n = model.n_sites
    top = n if args.top is None else args.top
    i, j = torch.triu_indices(n, n, offset=args.min_separation)
    if i.numel() == 0:
        raise ValueError(f"--min-separation {args.min_separation}: no pair of the "
                         f"{n} sites is that far apart")
    order = scores[i, j].argsort(descending=True)[:top]
    print("i\tj\tscore")  # sites numbered from 1, as plmDCA writes them
    for k in order.tolist():
        print(f"{int(i[k]) + 1}\t{int(j[k]) + 1}\t{float(scores[i[k], j[k]]):.4f}")
    if args.truth:
        truth = _load_model(args.truth, "--truth")
        if truth.n_sites != n:
            raise ValueError(f"--truth {args.truth} has {truth.n_sites} sites, the model {n}")
        coupled = truth.couplings.detach().abs().sum((1, 3)).triu(1).nonzero()
        precision = contact_precision(scores, coupled, top, args.min_separation)
        print(f"precision of the top {len(order)}: {precision:.3f} "
              f"({counted(len(coupled), 'true contact')})")


def _sample(args) -> None:
    from harmonium.models._potts_alignment import decode_sequences, write_fasta

    model = _load_model(args.model, "MODEL")
    fasta = Path(args.output).suffix.lower() != ".npy"
    if fasta and model.alphabet is None:
        raise ValueError(f"{args.model} has no alphabet to write letters with: name a .npy "
                         "output")
    x = model.sample(args.n_samples, args.sweeps,
                     generator=torch.Generator().manual_seed(args.seed))
    if fasta:
        write_fasta(args.output, decode_sequences(x, model.alphabet))
    else:
        np.save(args.output, x.numpy())
    print(f"wrote {counted(args.n_samples, 'sequence')} of {model.n_sites} sites to "
          f"{args.output}")


def _plant(args) -> None:
    from harmonium.io import save
    from harmonium.models._potts_alignment import AMINO_ACIDS
    from harmonium.models.potts import planted_potts_model

    model, contacts = planted_potts_model(
        args.sites, args.states, args.contacts, strength=args.strength,
        generator=torch.Generator().manual_seed(args.seed))
    model.alphabet = AMINO_ACIDS if args.states == len(AMINO_ACIDS) else None
    save(model, args.output)
    pairs = ", ".join(f"{a + 1}-{b + 1}" for a, b in contacts.tolist())
    print(f"planted {counted(len(contacts), 'contact')} in {args.sites} sites x "
          f"{args.states} states ({pairs}); wrote {args.output}")

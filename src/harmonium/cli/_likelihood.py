"""Options of ``harmonium rbm evaluate --ais`` and ``harmonium rbm sample --tempering``.

Kept apart from :mod:`harmonium.cli.rbm`, which only wires them in: the AIS
log-likelihood with its bracket, and parallel-tempering generation.
"""

from __future__ import annotations

import torch

from harmonium.cli._options import count
from harmonium.partition.ais import PUBLISHED_N_BETAS

__all__ = ["add_ais_args", "add_tempering_args", "ais_evaluation", "tempering_samples"]


def add_ais_args(p) -> None:
    """``--ais``, ``--n-betas``, ``--n-chains`` and ``--reverse`` on an evaluate parser."""
    p.add_argument("--ais", action="store_true",
                   help="estimate log Z by annealed importance sampling and print the "
                   "log-likelihood with its 3-sigma bracket")
    p.add_argument("--n-betas", type=count(3), default=PUBLISHED_N_BETAS,
                   help="AIS inverse temperatures (default: the published %(default)s)")
    p.add_argument("--n-chains", type=count(2), default=100,
                   help="AIS chains (default: %(default)s)")
    p.add_argument("--reverse", action="store_true",
                   help="also run reverse AIS from the data (an upper estimate of log Z, "
                   "hence a conservative log-likelihood)")


def ais_evaluation(rbm, x: torch.Tensor, args) -> dict[str, float]:
    """AIS (and with ``--reverse`` reverse-AIS) log Z and mean log-likelihood of ``x``."""
    from harmonium.partition import ais, log_likelihood, reverse_ais

    g = torch.Generator(device=args.device).manual_seed(args.seed)
    quiet = getattr(args, "quiet", False)
    fwd = ais(rbm, args.n_chains, args.n_betas, base=x, generator=g, progress=not quiet)
    ll = log_likelihood(rbm, x, fwd)
    out = {
        "ais_log_z": fwd.log_z,
        "ais_log_z_std_err": fwd.log_z_std_err,
        "ais_log_z_low": fwd.bracket(3)[0],
        "ais_log_z_high": fwd.bracket(3)[1],
        "log_likelihood_ais": ll.mean,
        "log_likelihood_ais_low": ll.low,
        "log_likelihood_ais_high": ll.high,
    }
    if args.reverse:
        idx = torch.randperm(len(x), generator=g, device=g.device)[: args.n_chains]
        rev = reverse_ais(rbm, x[idx.to(x.device)], args.n_betas, base=x, generator=g,
                          progress=not quiet)
        out["reverse_ais_log_z"] = rev.log_z
        out["reverse_ais_log_z_std_err"] = rev.log_z_std_err
        out["log_likelihood_reverse_ais"] = log_likelihood(rbm, x, rev).mean
    return out


def add_tempering_args(p) -> None:
    """``--tempering [T]`` on a sample parser."""
    p.add_argument("--tempering", type=count(2), nargs="?", const=10, default=None, metavar="T",
                   help="sample by parallel tempering with T temperatures (default 10) "
                   "instead of plain Gibbs; prints the swap rates")


def tempering_samples(rbm, n: int, steps: int, n_temperatures: int, generator):
    """Mean visible states ``E[v | h]`` of ``n`` PT chains after ``steps`` steps."""
    from harmonium.sampling import ParallelTempering

    pt = ParallelTempering(n_temperatures, n_chains=n)
    v = pt.run(rbm, steps, generator=generator, progress=False)
    with torch.no_grad():
        mean = rbm.mean_v_from_h(rbm.sample_h_from_v(v, generator=generator))
    rates = " ".join(f"{r:.2f}" for r in pt.swap_rates.tolist())
    print(f"parallel tempering: {n_temperatures} temperatures, swap rates {rates}")
    return mean

"""Contact prediction on generated alignments: plmDCA (harmonium) against mfDCA and MI.

Protocol. A Potts model with ``L`` sites, ``q = 21`` states, fields ~ N(0, 0.5^2) and
``L`` planted coupling blocks (random pairs of sites, entries ~ N(0, STRENGTH^2), all
other pairs uncoupled; ``harmonium.models.potts.planted_potts_model``) is sampled by
Gibbs sampling (independent chains from random sequences, SWEEPS sweeps each). Planted
pairs share sites, so indirect correlations along chains of contacts exist: the case that
separates direct-coupling analysis from correlation measures. Each method ranks the
pairs ``i < j``; we report the precision of the top ``L`` and top ``L/2`` pairs
(fraction that are planted), the standard measure of that literature, averaged over
SEEDS models per alignment size.

Methods, all with the same plmDCA sequence weights (80% identity) and the average-product
correction (APC):

- **plmDCA** (harmonium ``fit_potts``): symmetric pseudo-likelihood, L2 penalties
  lambda_h = lambda_J = 0.01 (plmDCA's defaults; not tuned here), full-batch L-BFGS,
  score = Frobenius norm of the zero-sum-gauged couplings (gap state kept: these
  generated alignments have no special gap).
- **mfDCA** (Morcos et al. 2011, the mean-field peer): pseudocount 0.5 on the one- and
  two-site frequencies, ``J = -C^-1`` over the first ``q - 1`` states, the same
  Frobenius-norm score of its zero-sum-gauged couplings.
- **MI**: mutual information of the pseudocounted two-site frequencies.

Run: ``python benchmarks/potts_contacts.py [--quick]``; single-threaded. Writes
benchmarks/results/potts_contacts.{json,md}.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from harmonium import PottsModel, fit_potts  # noqa: E402
from harmonium.models._potts_alignment import sequence_weights  # noqa: E402
from harmonium.models._potts_gauge import apc, contact_precision, frobenius_scores  # noqa: E402
from harmonium.models.potts import planted_potts_model  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
Q, STRENGTH, SWEEPS, PSEUDOCOUNT = 21, 0.5, 60, 0.5


def _frequencies(x: torch.Tensor, w: torch.Tensor, q: int):
    """Pseudocounted one- and two-site frequencies, (L, q) and (L, q, L, q), float64."""
    one = torch.nn.functional.one_hot(x, q).double().flatten(1)  # (n, L q)
    w = w / w.sum()
    f1 = (w @ one).view(x.shape[1], q)
    f2 = ((one * w[:, None]).T @ one).view(x.shape[1], q, x.shape[1], q)
    lam = PSEUDOCOUNT
    f1 = (1 - lam) * f1 + lam / q
    f2 = (1 - lam) * f2 + lam / q**2
    n = x.shape[1]
    diag = torch.arange(n)
    f2[diag, :, diag, :] = torch.diag_embed(f1)  # a site with itself: its own frequencies
    return f1, f2


def mfdca_scores(x, w, q):
    """Mean-field DCA: couplings ``-C^-1`` over the first ``q - 1`` states, FN + APC."""
    f1, f2 = _frequencies(x, w, q)
    n = x.shape[1]
    c = (f2 - f1[:, :, None, None] * f1[None, None, :, :])[:, :-1, :, :-1]
    m = n * (q - 1)
    j = torch.zeros(n, q, n, q, dtype=torch.float64)
    j[:, :-1, :, :-1] = -torch.linalg.inv(c.reshape(m, m)).view(n, q - 1, n, q - 1)
    j[torch.arange(n), :, torch.arange(n), :] = 0.0
    return apc(frobenius_scores(j))


def mi_scores(x, w, q):
    """Mutual information of the pseudocounted frequencies, APC-corrected."""
    f1, f2 = _frequencies(x, w, q)
    ratio = f2 / (f1[:, :, None, None] * f1[None, None, :, :])
    mi = torch.special.xlogy(f2, ratio).sum((1, 3))  # 0 log 0 = 0 on the diagonal blocks
    return apc(mi * (1 - torch.eye(x.shape[1], dtype=torch.float64)))


def plm_scores(x, w, q):
    model = PottsModel(x.shape[1], q)
    fit_potts(model, x, weights=w, epochs=8, iterations=25, progress=False)
    return model.contact_scores()


METHODS = {"plmDCA (harmonium)": plm_scores, "mfDCA": mfdca_scores, "MI": mi_scores}


def run_one(n_sites: int, n_samples: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    truth, contacts = planted_potts_model(n_sites, Q, n_sites, strength=STRENGTH,
                                          generator=g)
    tic = time.perf_counter()
    x = truth.sample(n_samples, SWEEPS, generator=g)
    row = {"L": n_sites, "N": n_samples, "seed": seed,
           "sampling_s": time.perf_counter() - tic}
    w = sequence_weights(x, Q, 0.8)
    row["N_eff"] = float(w.sum())
    for name, method in METHODS.items():
        tic = time.perf_counter()
        scores = method(x, w.to(torch.float32) if "plm" in name else w, Q)
        row[name] = {"seconds": time.perf_counter() - tic,
                     "top_L": contact_precision(scores, contacts, n_sites),
                     "top_L/2": contact_precision(scores, contacts, n_sites // 2)}
    print(json.dumps(row), flush=True)
    return row


def _table(rows, sizes) -> str:
    lines = ["| L | N | " + " | ".join(f"{m} top-L | top-L/2" for m in METHODS) + " |",
             "|---|---|" + "---|---|" * len(METHODS)]
    for n_sites, n_samples in sizes:
        mine = [r for r in rows if r["L"] == n_sites and r["N"] == n_samples]
        cells = []
        for m in METHODS:
            for key in ("top_L", "top_L/2"):
                cells.append(f"{statistics.mean(r[m][key] for r in mine):.2f}")
        lines.append(f"| {n_sites} | {n_samples} | " + " | ".join(cells) + " |")
    seconds = {m: statistics.median(r[m]["seconds"] for r in rows) for m in METHODS}
    lines.append("")
    lines.append("Median seconds per alignment (1 thread): " + ", ".join(
        f"{m} {s:.1f}" for m, s in seconds.items()))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small size, one seed")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    sizes = [(30, 500)] if args.quick else [(30, 250), (30, 500), (30, 1000), (30, 2000)]
    seeds = range(1) if args.quick else range(args.seeds)
    tic = time.perf_counter()
    rows = [run_one(n, m, 100 + s) for n, m in sizes for s in seeds]
    out = {"protocol": __doc__, "q": Q, "strength": STRENGTH, "sweeps": SWEEPS,
           "pseudocount": PSEUDOCOUNT, "rows": rows,
           "total_seconds": time.perf_counter() - tic,
           "machine": f"{platform.machine()} {platform.processor()}, 1 thread, shared",
           "torch": torch.__version__}
    suffix = "_quick" if args.quick else ""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"potts_contacts{suffix}.json").write_text(json.dumps(out, indent=1))
    md = ["# Contact prediction on generated alignments (q = 21)", "",
          f"Planted Potts models: L sites, L planted pairs (coupling std {STRENGTH}), "
          f"{SWEEPS} Gibbs sweeps per sequence; precision of the top-L and top-L/2 pairs, "
          f"mean over {len(seeds)} seed(s). Protocol: benchmarks/potts_contacts.py.", "",
          _table(rows, sizes), "",
          f"Total {out['total_seconds']:.0f} s on {out['machine']}.", ""]
    (RESULTS / f"potts_contacts{suffix}.md").write_text("\n".join(md))


if __name__ == "__main__":
    main()

"""Demo section: classical, dense and modern Hopfield memories on the same half-masked
digits."""

from __future__ import annotations

import numpy as np
import torch

from harmonium.datasets import half_mask, load_digits
from harmonium.demo import Caption, Section
from harmonium.demo.figures import enlarge_text
from harmonium.models.dense import DenseAssociativeMemory
from harmonium.models.hopfield import HopfieldNetwork
from harmonium.models.modern_hopfield import ModernHopfield
from harmonium.plot import image_grid

N_STORED = 200
SIDE = 8
BETA = 8.0
MAX_SWEEPS = 20
# Millidge et al. (2022) count a retrieval correct below a squared error of 50 on 784
# pixels; the same error per pixel on 64 pixels
THRESHOLD = 50.0 * SIDE * SIDE / 784


def compare(n_stored: int = N_STORED, *, generator: torch.Generator) -> dict:
    """Store the first digits in the three memories, retrieve from half-masked queries.

    Parameters
    ----------
    n_stored : int
        Number of 8x8 digits stored (and queried).
    generator : torch.Generator
        Source of the asynchronous update orders of the binary networks.

    Returns
    -------
    dict
        ``"original"`` and ``"corrupted"`` (n, 64) images in [0, 1], and for each of
        ``"classical"``, ``"dense"``, ``"modern"`` a pair (retrieved (n, 64) in [0, 1],
        accuracy).
    """
    x = torch.from_numpy(load_digits()[0][:n_stored].astype(np.float32))
    mask = half_mask((SIDE, SIDE), "bottom")
    corrupted = x * mask
    spins, probes = torch.where(x > 0.5, 1.0, -1.0), torch.where(corrupted > 0.5, 1.0, -1.0)
    out = {"original": x, "corrupted": corrupted}
    for name, net in (("classical", HopfieldNetwork(SIDE * SIDE, rule="hebbian")),
                      ("dense", DenseAssociativeMemory(SIDE * SIDE, "exponential"))):
        states = net.store(spins).recall(probes, max_sweeps=MAX_SWEEPS,
                                         generator=generator).states
        wrong = (states != spins).sum(1)  # squared error of {0, 1} pixels
        out[name] = ((states + 1) / 2, float((wrong < THRESHOLD).float().mean()))
    modern = ModernHopfield(beta=BETA, similarity="euclidean").store(x)
    states = modern.recall(corrupted, mask=mask).states
    error = (states - x).pow(2).sum(1)
    out["modern"] = (states, float((error < THRESHOLD).float().mean()))
    return out


def run(generator: torch.Generator) -> Section:
    """Compare the three memories on 200 half-masked digits; a figure and a summary."""
    res = compare(N_STORED, generator=generator)
    acc = {name: res[name][1] for name in ("classical", "dense", "modern")}
    labels = load_digits()[1][:N_STORED]
    shown = [int(np.flatnonzero(labels == digit)[0]) for digit in range(10)]
    rows = [res["original"], res["corrupted"], *(res[k][0] for k in acc)]
    grid = image_grid(
        [r[shown].reshape(-1, SIDE, SIDE).numpy() for r in rows],
        row_labels=["original", "query", "classical", "dense", "modern"],
        col_labels=[str(d) for d in range(10)], cell=0.9,
    )
    summary = (f"Memories: {N_STORED} half-masked digits retrieved by classical "
               f"{acc['classical']:.0%}, dense {acc['dense']:.0%}, modern "
               f"{acc['modern']:.0%}")
    paragraphs = [
        f"The first {N_STORED} of scikit-learn's 8x8 digits are stored in three associative "
        "memories, and each is queried with every stored digit whose bottom half is hidden "
        "(set to background). A retrieval counts as correct when its squared error to the "
        f"stored digit is below {THRESHOLD:.1f} (the threshold of 50 on 784 pixels of "
        "Millidge et al. 2022, per pixel).",
        f"Classical Hopfield network (Hebbian rule, {SIDE * SIDE} +1/-1 units, digits "
        f"binarized at 0.5): {acc['classical']:.0%}. Its capacity is about 0.14 d = 9 "
        f"random patterns; {N_STORED} correlated digits merge into a few spurious "
        "attractors.",
        "Dense associative memory (Krotov and Hopfield 2016, exponential interaction "
        "F(x) = exp(x), Demircigil et al. 2017), same binary units and asynchronous "
        f"updates: {acc['dense']:.0%}. Its capacity grows exponentially with d, but the "
        "hidden half leaves many digits closer to another stored digit.",
        f"Modern Hopfield memory (Ramsauer et al. 2020) on the real-valued pixels, "
        f"Euclidean similarity, beta = {BETA:g}, one update step, told which pixels are "
        f"hidden (it compares only the visible half and fills in the rest): "
        f"{acc['modern']:.0%}.",
    ]
    lead = ("{ref} shows one query per digit class and what each memory returns: the "
            "classical network falls into the same few spurious states, the dense memory "
            "often returns another digit, the modern memory the stored one.")
    return Section(
        title="Classical, dense and modern Hopfield memories",
        summary=summary,
        paragraphs=paragraphs,
        figures=[(Caption("retrieval", lead,
                          "One query per digit: the stored digit, the query (bottom half "
                          "hidden) and each memory's retrieval. A correct retrieval "
                          "repeats the top row."),
                  enlarge_text(grid))],
    )

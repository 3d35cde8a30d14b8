"""The demo section comparing classical, dense and modern memories."""

import torch

from harmonium.datasets import half_mask, load_digits
from harmonium.demo.memory import N_STORED, compare, run


def test_modern_beats_classical_far_beyond_classical_capacity():
    res = compare(N_STORED, generator=torch.Generator().manual_seed(0))
    x = res["original"]
    assert x.shape == (N_STORED, 64)
    assert torch.equal(x, torch.from_numpy(load_digits()[0][:N_STORED]).float())
    observed = half_mask((8, 8), "bottom")
    assert torch.equal(res["corrupted"][:, observed], x[:, observed])
    assert not res["corrupted"][:, ~observed].any()
    # 200 patterns on 64 units is a load of 3.1, twenty times the Hebbian capacity 0.14:
    # the classical network recalls (almost) nothing, the modern memory nearly everything
    classical, dense, modern = (res[k][1] for k in ("classical", "dense", "modern"))
    assert classical <= 0.1
    assert modern >= 0.95 and modern > classical + 0.8
    # the modern memory keeps the observed half and the binary ones return 0/1 images
    assert torch.allclose(res["modern"][0][:, observed], x[:, observed])
    for key in ("classical", "dense"):
        assert set(res[key][0].unique().tolist()) <= {0.0, 1.0}
    assert 0.0 <= dense <= 1.0


def test_run_reports_the_three_accuracies():
    section = run(torch.Generator().manual_seed(0))
    res = compare(N_STORED, generator=torch.Generator().manual_seed(0))
    for key in ("classical", "dense", "modern"):
        assert f"{key} {res[key][1]:.0%}" in section.summary
    assert len(section.figures) == 1
    _caption, figure = section.figures[0]
    assert len(figure.axes) == 5 * 10

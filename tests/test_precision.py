"""Precision policies (harmonium.precision): the bfloat16 step against the float64 step
within the rounding bound derived in docs/performance.md, reproducibility from the
generator, exact binary samples, the fallback on hardware without fast products."""

import math
import warnings

import pytest
import torch

import harmonium
from harmonium import parallel
from harmonium import precision as prec
from harmonium.partition import log_likelihood_exact
from harmonium.precision import Precision, PrecisionFallbackWarning, use_precision
from harmonium.training.gradient import rbm_gradient_step
from harmonium.units import Bernoulli

BF16 = Precision("bf16", strict=True)
U = 2.0**-8  # bfloat16's unit roundoff (8 significant bits)


class Fixed:
    """A negative phase that returns given samples (the gradient is then deterministic)."""

    def __init__(self, v_model):
        self.v_model = v_model

    def negative(self, rbm, v_data, inputs_h, *, generator=None):
        return self.v_model


def _rbm(n_vis=30, n_hid=20, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    rbm = harmonium.RBM(Bernoulli(n_vis), Bernoulli(n_hid), weight_std=0.5, generator=g)
    with torch.no_grad():
        for p in rbm.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.3)
    return rbm.to(dtype)


def _grads(rbm, v_data, v_model):
    rbm_gradient_step(rbm, v_data, Fixed(v_model))
    return {n: p.grad.clone().double() for n, p in rbm.named_parameters()}


def test_names_aliases_and_bad_input():
    assert Precision("bf16").name == "bfloat16" and Precision("FP16").name == "float16"
    assert Precision().is_default and Precision("bf16").product_dtype is torch.bfloat16
    with pytest.raises(ValueError, match="precision must be one of"):
        Precision("int8")
    with pytest.raises(TypeError, match="precision must be None, a name"):
        prec.resolve(16, "cpu")


def test_fallback_warns_once_per_call_and_strict_forces(monkeypatch):
    monkeypatch.setattr(prec, "_cpu_flags", lambda: frozenset({"avx512f"}))
    with pytest.warns(PrecisionFallbackWarning, match="no fast bfloat16"):
        assert prec.resolve("bf16", "cpu").is_default
    with pytest.warns(PrecisionFallbackWarning):
        assert prec.resolve("tf32", "cpu").is_default
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert prec.resolve(BF16, "cpu") is BF16
        monkeypatch.setattr(prec, "_cpu_flags", lambda: frozenset({"amx_bf16"}))
        assert prec.resolve("bf16", "cpu").name == "bfloat16"


@pytest.mark.parametrize("grey", [False, True])
def test_bf16_gradient_within_the_rounding_bound_of_the_float64_gradient(grey):
    """Per entry: |g_bf16 - g_64| <= sum_r |v_r| (|dm_r| + 2u |m_r|) / n + u |g|, with
    |dm| <= 3u |v| |W| / 4 (the field's operand and output rounding through the
    sigmoid's slope <= 1/4), summed over the data and model halves."""
    g = torch.Generator().manual_seed(3)
    v_data = torch.rand(40, 30, generator=g)
    v_data = v_data if grey else (v_data < 0.4).float()
    v_model = (torch.rand(25, 30, generator=g) < 0.5).float()
    exact = _rbm(dtype=torch.float64)
    g64 = _grads(exact, v_data.double(), v_model.double())
    low = _rbm()
    with use_precision(low, BF16):
        g16 = _grads(low, v_data, v_model)
    assert low.weight_products is None  # the scope restores the model
    w = exact.weight.detach().abs()
    bound_w = torch.zeros_like(w)
    bound_b = torch.zeros(20, dtype=torch.float64)
    for v, sign in ((v_data.double(), 1), (v_model.double(), 1)):
        m = torch.sigmoid(exact.inputs_h_from_v(v)).detach()
        dm = 3 * U * (v.abs() @ w) / 4
        bound_w += v.abs().T @ (dm + 2 * U * m) * sign / v.shape[0]
        bound_b += dm.sum(0) / v.shape[0]
    bound_w += U * g64["weight"].abs()
    err_w = (g16["weight"] - g64["weight"]).abs()
    assert (err_w <= 1.1 * bound_w + 1e-6).all()
    hid = next(n for n in g64 if n.startswith("hidden"))
    assert ((g16[hid] - g64[hid]).abs() <= 1.1 * bound_b + 1e-6).all()
    vis = next(n for n in g64 if n.startswith("visible"))  # no weight product: float32
    assert torch.allclose(g16[vis], g64[vis], atol=1e-6)
    # the bound is tight enough to mean something: well under the gradient's scale
    assert bound_w.max() < 0.2 * g64["weight"].abs().max()
    assert err_w.max() > 0  # the products did run in bfloat16


def test_float32_policy_is_bit_identical_to_no_policy():
    g = torch.Generator().manual_seed(1)
    v_data = (torch.rand(16, 30, generator=g) < 0.3).float()
    v_model = (torch.rand(16, 30, generator=g) < 0.5).float()
    a, b = _rbm(), _rbm()
    plain = _grads(a, v_data, v_model)
    with use_precision(b, "float32"):
        policy = _grads(b, v_data, v_model)
    assert all(torch.equal(plain[n], policy[n]) for n in plain)


def test_weight_copies_follow_in_place_updates():
    rbm = _rbm()
    v = (torch.rand(5, 30, generator=torch.Generator().manual_seed(4)) < 0.5).float()
    with use_precision(rbm, BF16):
        rbm.inputs_h_from_v(v)
        with torch.no_grad():
            rbm.weight.mul_(-2.0)
        got_h = rbm.inputs_h_from_v(v)
        got_v = rbm.inputs_v_from_h(v[:, :20])
    w16 = rbm.weight.detach().bfloat16()
    assert torch.equal(got_h, (v.bfloat16() @ w16).float())
    assert torch.equal(got_v, (v[:, :20].bfloat16() @ w16.T).float())


def test_bf16_training_is_reproducible_and_samples_stay_binary():
    data = (torch.rand(200, 30, generator=torch.Generator().manual_seed(5)) < 0.3).float()

    def run():
        rbm = _rbm(seed=6)
        harmonium.fit(rbm, data, harmonium.PCD(20), epochs=2, batch_size=20,
                      generator=torch.Generator().manual_seed(7), progress=False,
                      monitor=0, precision=BF16)
        return rbm

    a, b = run(), run()
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    assert a.weight.dtype == torch.float32 and a.weight_products is None
    with use_precision(a, BF16):
        v = a.gibbs(data[:50], 3, generator=torch.Generator().manual_seed(8))
    assert v.dtype == torch.float32 and set(v.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("policy", [BF16, Precision(draw_bits=15)], ids=["bf16", "draws15"])
def test_low_precision_training_reaches_the_float32_log_likelihood(policy):
    """A 10-unit RBM on a peaked distribution: the exact log-likelihood after CD-1 with
    bfloat16 products or 15-bit draws matches float32 training (same seeds) within 0.05
    nats per sample, far below what training gains (several nats)."""
    g = torch.Generator().manual_seed(9)
    protos = (torch.rand(4, 10, generator=g) < 0.5).float()
    idx = torch.randint(0, 4, (600,), generator=g)
    data = (protos[idx] + (torch.rand(600, 10, generator=g) < 0.05)).remainder(2)
    scores = {}
    for name, run_policy in (("f32", None), ("low", policy)):
        rbm = _rbm(10, 8, seed=10)
        rbm.weight.data.mul_(0.02)
        start = log_likelihood_exact(rbm, data).mean().item()
        harmonium.fit(rbm, data, epochs=15, batch_size=20, lr=0.1,
                      generator=torch.Generator().manual_seed(11), progress=False,
                      monitor=0, precision=run_policy)
        scores[name] = log_likelihood_exact(rbm, data).mean().item()
    assert scores["f32"] - start > 1.0
    assert math.isclose(scores["low"], scores["f32"], abs_tol=0.05)


def test_a_model_without_rbm_layers_refuses_a_low_precision():
    with pytest.raises(ValueError, match="applies to the weight products and draws of RBM"):
        with use_precision(torch.nn.Linear(3, 2), BF16):
            pass


@pytest.mark.parametrize("flags", [frozenset(), frozenset({"avx512_bf16"})])
def test_cli_precision_option_notes_a_fallback_in_one_line(flags, monkeypatch, tmp_path, capsys):
    from harmonium.cli.main import main

    monkeypatch.setattr(prec, "_cpu_flags", lambda: flags)
    out = tmp_path / "m.safetensors"
    assert main(["rbm", "train", "digits", "-o", str(out), "--epochs", "1", "--hidden", "8",
                 "--precision", "bf16", "-q", "--binarize", "threshold"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    if flags:
        assert err == []
    else:
        assert len(err) == 1 and err[0].startswith("harmonium: note: cpu here has no fast")
    assert harmonium.load(out).weight.dtype == torch.float32
    assert main(["rbm", "train", "digits", "-o", str(out), "--precision", "int8"]) == 2


def _coin_uniforms(shape, seed=0):
    with use_precision(_rbm(), Precision(draw_bits=15)):
        return parallel.coin_uniforms_like(torch.empty(shape),
                                           torch.Generator().manual_seed(seed))


def test_15_bit_draws_are_uniform_on_the_grid_and_reproducible():
    u = _coin_uniforms((1000, 401))
    assert torch.equal(u, _coin_uniforms((1000, 401)))
    assert not torch.equal(u, _coin_uniforms((1000, 401), seed=1))
    scaled = u * 2**15
    assert torch.equal(scaled, scaled.round()) and 0 <= u.min() and u.max() < 1
    counts = torch.bincount((u * 16).long().flatten(), minlength=16).double()
    expected = u.numel() / 16
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    assert chi2 < 45  # 15 degrees of freedom: p < 1e-4
    lanes = (scaled.flatten()[: 4 * (u.numel() // 4)].view(-1, 4))  # each lane uniform
    assert torch.allclose(lanes.mean(0) / 2**15, torch.full((4,), 0.5, dtype=u.dtype),
                          atol=0.005)
    buffer = torch.empty(5, 7, dtype=torch.float64)  # filled in place, any float dtype
    with use_precision(_rbm(), Precision(draw_bits=15)):
        filled = parallel.coin_uniforms_like(buffer, torch.Generator().manual_seed(0))
    assert filled is buffer
    assert torch.equal(filled, u.double().flatten()[:35].view(5, 7))  # same stream


def test_15_bit_bernoulli_probability_is_rounded_up_to_the_grid():
    """P(u < p) = ceil(p 2^15) / 2^15: for p = 1e-5 that is 2^-15, three times p."""
    rbm = _rbm(4, 3)
    g = torch.Generator().manual_seed(2)
    n = 400_000
    for p, expected in ((0.3, math.ceil(0.3 * 2**15) / 2**15), (1e-5, 2**-15)):
        logit = math.log(p) - math.log1p(-p)
        with use_precision(rbm, Precision(draw_bits=15)):
            x = Bernoulli(3).sample_from_inputs(torch.full((n, 3), logit), generator=g)
        freq = x.mean().item()
        assert abs(freq - expected) < 5 * math.sqrt(expected / (3 * n))


def test_15_bit_draws_of_a_data_parallel_rank_are_its_rows_of_the_global_draw(monkeypatch):
    full = _coin_uniforms((8, 5), seed=3)
    monkeypatch.setattr(parallel, "world", lambda: (1, 2))
    with parallel.draw_rows(parallel.RowShard(3, 4, 8)):
        mine = _coin_uniforms((4, 5), seed=3)
    assert torch.equal(mine, full[3:7])

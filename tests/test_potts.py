"""Potts units and the pairwise Potts model, against enumeration and brute force.

Oracles: energies summed pair by pair in Python loops, ``log Z`` and conditionals by
enumerating all ``q**L`` sequences, the pseudo-likelihood gradient by autograd of a
brute-force objective and by finite differences, and contact recovery on alignments
sampled from a model with planted couplings.
"""

import itertools
import math

import numpy as np
import pytest
import torch

import harmonium
from harmonium import RBM, PottsModel, fit_potts
from harmonium.models._potts_alignment import (
    AMINO_ACIDS,
    decode_sequences,
    encode_sequences,
    read_fasta,
    sequence_weights,
    write_fasta,
)
from harmonium.models._potts_gauge import apc, contact_precision
from harmonium.models.potts import planted_potts_model, zero_sum_gauge
from harmonium.partition import ais, log_partition_exact
from harmonium.partition.pseudo import pseudo_log_likelihood
from harmonium.training.potts import plm_objective
from harmonium.units import Bernoulli, Potts, unit_type


def _model(n=4, q=3, seed=0, scale=0.7):
    """A symmetric model far from the zero-sum gauge (fields and couplings with means)."""
    g = torch.Generator().manual_seed(seed)
    model = PottsModel(n, q, coupling_std=scale, generator=g, dtype=torch.float64)
    with torch.no_grad():
        model.layer.params.normal_(0.3, 0.8, generator=g)
        shift = torch.randn(n, 1, n, 1, generator=g, dtype=torch.float64)
        model.couplings += (shift + shift.permute(2, 3, 0, 1)) * (1 - torch.eye(n))[
            :, None, :, None]
    return model


def _all_sequences(n, q):
    return torch.tensor(list(itertools.product(range(q), repeat=n)))


def _energy_by_loops(model, x):
    h, j = model.fields.detach(), model.couplings.detach()
    out = []
    for row in x.tolist():
        e = -sum(h[i, a] for i, a in enumerate(row))
        e -= sum(j[i, row[i], k, row[k]] for i in range(len(row)) for k in range(i + 1, len(row)))
        out.append(float(e))
    return torch.tensor(out, dtype=torch.float64)


def _energies_by_indexing(fields, couplings, x):
    """``-sum_i h_i(x_i) - 1/2 sum_{i != k} J_ik(x_i, x_k)`` by indexing, (n, L) -> (n,)."""
    sites = torch.arange(x.shape[1])
    pairs = couplings[sites[None, :, None], x[:, :, None], sites[None, None, :], x[:, None, :]]
    return -fields[sites, x].sum(1) - 0.5 * pairs.sum((1, 2))


def _log_conditionals_by_energies(fields, couplings, x):
    """``log p(x_i = a | x_-i)`` from full energies of the q variants of each site."""
    n, q = fields.shape
    out = []
    for i in range(n):
        variants = x[:, None, :].repeat(1, q, 1)
        variants[:, :, i] = torch.arange(q)
        energies = _energies_by_indexing(fields, couplings, variants.reshape(-1, n))
        out.append(torch.log_softmax(-energies.view(-1, q), 1))
    return torch.stack(out, 1)


# ----- Potts units: the conformance every unit type passes ----------------------------
def _potts_layer(seed=1):
    layer = Potts(3, 4).double()
    with torch.no_grad():
        layer.params.normal_(0.5, 1.0, generator=torch.Generator().manual_seed(seed))
    return layer


def test_potts_units_conform_to_the_unit_interface():
    assert unit_type("Potts") is Potts
    layer = _potts_layer()
    inputs = torch.randn(5, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    leaf = inputs.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(layer.cgf(leaf).sum(), leaf)
    torch.testing.assert_close(grad, layer.mean_from_inputs(inputs))
    states = torch.cat(list(layer.enumerate_states()))  # 4**3 one-hot states
    logits = -layer.energy(states)[None] + torch.einsum("bij,sij->bs", inputs, states)
    torch.testing.assert_close(layer.cgf(inputs), torch.logsumexp(logits, 1))
    torch.testing.assert_close(layer.mode_from_inputs(inputs), states[logits.argmax(1)])
    many = inputs[:1].expand(40000, 3, 4)
    x = layer.check_support(layer.sample_from_inputs(many, generator=torch.Generator()))
    mean, var = layer.mean_from_inputs(inputs[:1])[0], layer.var_from_inputs(inputs[:1])[0]
    assert ((x.mean(0) - mean).abs() <= 5 * (var / 40000).sqrt() + 1e-12).all()
    other = _potts_layer(seed=3)
    torch.testing.assert_close(layer.mixed(other, 0.3).energy(x[:9]),
                               0.7 * other.energy(x[:9]) + 0.3 * layer.energy(x[:9]))
    back = Potts.layer_from_state(layer.to_state())
    assert type(back) is Potts and back.shape == (3, 4)
    with pytest.raises(ValueError, match="one-hot"):
        layer.check_support(torch.full((1, 3, 4), 0.25, dtype=torch.float64))


def test_potts_projection_is_the_zero_sum_gauge_and_keeps_the_distribution():
    layer = _potts_layer()
    states = torch.cat(list(layer.enumerate_states()))
    before = torch.log_softmax(-layer.energy(states), 0)
    layer.project_()
    torch.testing.assert_close(layer.bias.sum(-1), torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(torch.log_softmax(-layer.energy(states), 0), before)
    data = layer.sample_from_inputs(torch.zeros(500, 3, 4, dtype=torch.float64),
                                    generator=torch.Generator().manual_seed(4))
    fitted = layer.fit_independent(data)
    assert type(fitted) is Potts
    torch.testing.assert_close(fitted.bias.sum(-1), torch.zeros(3, dtype=torch.float64))
    freq = (data.sum(0) + 0.5) / (500 + 4 * 0.5)
    torch.testing.assert_close(torch.softmax(fitted.bias, -1), freq)
    assert layer.indices_from_states(data).tolist() == data.argmax(-1).tolist()


def test_rbm_with_potts_visible_units_scores_saves_and_anneals(tmp_path):
    g = torch.Generator().manual_seed(5)
    rbm = RBM(Potts(4, 3), Bernoulli(3), weight_std=0.8, generator=g).double()
    v = rbm.visible.sample_from_inputs(torch.zeros(6, 4, 3, dtype=torch.float64), generator=g)
    expected = torch.zeros(6, dtype=torch.float64)
    for i in range(4):  # each site by the free energies of its 3 states
        variants = v[:, None].repeat(1, 3, 1, 1)
        variants[:, :, i] = torch.eye(3, dtype=torch.float64)
        f = rbm.free_energy_visible(variants.reshape(-1, 4, 3)).view(6, 3)
        expected += torch.log_softmax(-f, 1).gather(1, v[:, i].argmax(-1, keepdim=True))[:, 0]
    torch.testing.assert_close(pseudo_log_likelihood(rbm, v), expected)
    harmonium.fit(rbm, v.repeat(20, 1, 1), harmonium.PCD(5), epochs=2, batch_size=30,
                  weight_decay=0.01, generator=g, progress=False)
    assert rbm.visible.bias.detach().sum(-1).abs().max() < 1e-12  # kept in the gauge
    harmonium.save(rbm, tmp_path / "potts_rbm.safetensors")
    back = harmonium.load(tmp_path / "potts_rbm.safetensors")
    assert type(back.visible) is Potts
    exact = log_partition_exact(back).item()
    result = ais(back, 1000, betas=torch.linspace(0, 1, 50), generator=g, progress=False)
    low, high = result.bracket(5)
    assert low < exact < high


# ----- the pairwise model against brute force ------------------------------------------
def test_energy_log_z_and_likelihood_against_loops_and_enumeration():
    model = _model()
    x = _all_sequences(4, 3)
    energies = _energy_by_loops(model, x)
    torch.testing.assert_close(model.energy(x), energies)
    log_z = torch.logsumexp(-energies, 0)
    torch.testing.assert_close(model.log_partition_exact(), log_z)
    torch.testing.assert_close(model.log_likelihood_exact(x[:5]), -energies[:5] - log_z)
    assert math.isclose(torch.logsumexp(model.log_likelihood_exact(x), 0).item(), 0,
                        abs_tol=1e-12)


def test_site_conditionals_and_pseudo_likelihood_against_full_energies():
    model = _model(seed=1)
    x = torch.randint(3, (7, 4), generator=torch.Generator().manual_seed(2))
    log_cond = _log_conditionals_by_energies(model.fields.detach(), model.couplings.detach(), x)
    torch.testing.assert_close(torch.log_softmax(model.site_logits(x), -1), log_cond)
    expected = log_cond.gather(2, x[:, :, None])[:, :, 0].sum(1)
    torch.testing.assert_close(model.pseudo_log_likelihood(x), expected)


def test_zero_sum_gauge_keeps_every_probability_and_sums_to_zero():
    model = _model(seed=2)
    x = _all_sequences(4, 3)
    log_p = model.log_likelihood_exact(x)
    cond = torch.log_softmax(model.site_logits(x), -1)
    scores = model.contact_scores()
    fields, couplings = zero_sum_gauge(model.fields.detach(), model.couplings.detach())
    assert model.fields.sum(-1).abs().max() > 0.1  # the model was not in the gauge
    model.zero_sum_gauge_()
    torch.testing.assert_close(model.fields, fields)
    torch.testing.assert_close(model.log_likelihood_exact(x), log_p)
    torch.testing.assert_close(torch.log_softmax(model.site_logits(x), -1), cond)
    for axis in (1, 3):  # every block sums to zero over either state
        assert couplings.sum(axis).abs().max() < 1e-12
    assert fields.sum(-1).abs().max() < 1e-12
    torch.testing.assert_close(model.contact_scores(), scores)  # scores see the gauge


def test_contact_scores_are_apc_corrected_frobenius_norms():
    model = _model(n=5, seed=3).zero_sum_gauge_()
    j = model.couplings.detach()
    raw = torch.tensor([[float(j[a, :, b, :].norm()) if a != b else 0.0 for b in range(5)]
                        for a in range(5)], dtype=torch.float64)
    torch.testing.assert_close(model.contact_scores(corrected=False), raw)
    mean_row = raw.sum(1) / 4
    corrected = raw - mean_row[:, None] * mean_row[None] / (raw.sum() / 20)
    torch.testing.assert_close(model.contact_scores(), corrected * (1 - torch.eye(5)))
    kept = model.contact_scores(corrected=False, ignore_states=[2])
    torch.testing.assert_close(kept[0, 1], j[0, :2, 1, :2].norm())
    torch.testing.assert_close(apc(raw), model.contact_scores())


def test_gibbs_sweeps_keep_the_exact_distribution():
    model = _model(n=3, q=3, seed=4)
    x_all = _all_sequences(3, 3)
    p = model.log_likelihood_exact(x_all).exp()
    g = torch.Generator().manual_seed(5)
    n = 30000
    start = x_all[torch.multinomial(p, n, replacement=True, generator=g)]
    after = model.gibbs(start, 2, generator=g)
    counts = torch.bincount((after * torch.tensor([9, 3, 1])).sum(1), minlength=27).double()
    assert ((counts / n - p).abs() <= 5 * (p * (1 - p) / n).sqrt() + 1e-4).all()


# ----- pseudo-likelihood training ---------------------------------------------------------
def _brute_objective(fields, couplings, x, w, lambda_h, lambda_j):
    """The plmDCA objective from full energies of every single-site variant."""
    n = x.shape[1]
    sym = (couplings + couplings.permute(2, 3, 0, 1)) / 2 * (1 - torch.eye(n))[:, None, :, None]
    cond = _log_conditionals_by_energies(fields, sym, x)
    pll = cond.gather(2, x[:, :, None])[:, :, 0].sum(1)
    pairs = sum(sym[i, :, k, :].square().sum() for i in range(n) for k in range(i + 1, n))
    return -(w * pll).sum() / w.sum() + lambda_h * fields.square().sum() + lambda_j * pairs


def test_plm_objective_and_gradient_against_autograd_and_finite_differences():
    model = _model(seed=6)
    g = torch.Generator().manual_seed(7)
    x = torch.randint(3, (9, 4), generator=g)
    w = torch.rand(9, generator=g, dtype=torch.float64) + 0.1
    loss, grad_h, grad_j = plm_objective(model, model.one_hot(x), w, 0.03, 0.05)
    fields = model.fields.detach().clone().requires_grad_(True)
    couplings = model.couplings.detach().clone().requires_grad_(True)
    brute = _brute_objective(fields, couplings, x, w, 0.03, 0.05)
    torch.testing.assert_close(loss, brute.detach())
    auto_h, auto_j = torch.autograd.grad(brute, [fields, couplings])
    torch.testing.assert_close(grad_h, auto_h)
    torch.testing.assert_close(grad_j, auto_j)
    direction = torch.randn(couplings.shape, generator=g, dtype=torch.float64)
    eps = 1e-6
    plus = _brute_objective(fields, couplings + eps * direction, x, w, 0.03, 0.05)
    minus = _brute_objective(fields, couplings - eps * direction, x, w, 0.03, 0.05)
    numeric = (plus - minus).item() / (2 * eps)
    assert numeric == pytest.approx((grad_j * direction).sum().item(), rel=1e-6)


def test_fit_reaches_the_stationary_point_of_the_objective():
    truth = _model(n=5, q=3, seed=8)
    x = truth.sample(400, sweeps=30, generator=torch.Generator().manual_seed(9))
    model = PottsModel(5, 3, dtype=torch.float64)
    history = fit_potts(model, x, epochs=4, iterations=50, progress=False)
    # the first epoch already converges; later ones may move the loss by rounding only
    assert history["loss"][-1] <= history["loss"][0] + 1e-12
    assert history["loss"][0] < math.log(3) * 5  # the loss of the all-zero start
    _, grad_h, grad_j = plm_objective(model, model.one_hot(x), torch.ones(400,
                                      dtype=torch.float64), 0.01, 0.01)
    assert grad_h.abs().max() < 1e-5 and grad_j.abs().max() < 1e-5
    torch.testing.assert_close(model.couplings, model.couplings.permute(2, 3, 0, 1))


def test_an_interrupted_fit_resumes_to_the_uninterrupted_result(tmp_path):
    """The checkpoint carries the L-BFGS memory: 2 + 2 epochs equal 4, bit for bit."""
    x = _model(n=5, q=3, seed=3).sample(300, sweeps=20,
                                        generator=torch.Generator().manual_seed(4))
    straight = PottsModel(5, 3, dtype=torch.float64)
    expected = fit_potts(straight, x, epochs=4, iterations=3, progress=False)
    path = tmp_path / "plm.ckpt"
    fit_potts(PottsModel(5, 3, dtype=torch.float64), x, epochs=2, iterations=3,
              progress=False, checkpoint=path)
    resumed = PottsModel(5, 3, dtype=torch.float64)
    history = fit_potts(resumed, x, epochs=4, iterations=3, progress=False,
                        checkpoint=path, resume=True)
    assert history["loss"] == expected["loss"]
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)


def _recovery(n_sites, n_states, n_contacts, n_samples, seed):
    g = torch.Generator().manual_seed(seed)
    truth, contacts = planted_potts_model(n_sites, n_states, n_contacts, strength=1.0,
                                          generator=g)
    x = truth.sample(n_samples, sweeps=60, generator=g)
    model = PottsModel(n_sites, n_states)
    fit_potts(model, x, epochs=3, progress=False)
    return contact_precision(model.contact_scores(), contacts, n_contacts)


def test_plm_recovers_planted_contacts_at_the_top_of_the_apc_ranking():
    assert _recovery(12, 4, 6, 1000, seed=10) >= 5 / 6


@pytest.mark.slow
@pytest.mark.parametrize(("n_states", "n_samples"), [(4, 2000), (21, 2000)])
def test_plm_recovers_planted_contacts_on_larger_alignments(n_states, n_samples):
    assert _recovery(20, n_states, 10, n_samples, seed=11) >= 0.9


# ----- saving, alignments, bad inputs ----------------------------------------------------------
def test_save_load_round_trip_and_asymmetric_files_refused(tmp_path):
    model = _model(seed=12)
    model.alphabet = "AB-"
    harmonium.save(model, tmp_path / "potts.safetensors")
    back = harmonium.load(tmp_path / "potts.safetensors")
    x = _all_sequences(4, 3)
    torch.testing.assert_close(back.energy(x), model.energy(x))
    assert back.alphabet == "AB-"
    state = model._to_state()
    state["couplings"] = state["couplings"].detach().clone()
    state["couplings"][0, 0, 1, 1] += 1.0
    with pytest.raises(ValueError, match="symmetric"):
        PottsModel._from_state(state)


def test_fasta_reading_encoding_and_sequence_weights(tmp_path):
    path = tmp_path / "aln.a2m"
    path.write_text(">s1 first\nAC-D\nxxEF.\n>s2\nACXDEF\n>s3\nWC-DEY\n")
    names, seqs = read_fasta(path)
    assert names == ["s1 first", "s2", "s3"] and seqs == ["AC-DEF", "ACXDEF", "WC-DEY"]
    states = encode_sequences(seqs)
    assert states[0].tolist() == [AMINO_ACIDS.index(c) for c in "AC-DEF"]
    assert torch.equal(states[0], states[1])  # X is read as a gap
    assert decode_sequences(states)[2] == "WC-DEY"
    write_fasta(tmp_path / "out.fasta", decode_sequences(states))
    assert read_fasta(tmp_path / "out.fasta")[1] == ["AC-DEF", "AC-DEF", "WC-DEY"]
    x = torch.randint(3, (40, 6), generator=torch.Generator().manual_seed(13))
    x[20:] = x[0]
    identity = (x[:, None, :] == x[None, :, :]).double().mean(2)
    expected = 1 / (identity >= 0.8).sum(1).double()
    torch.testing.assert_close(sequence_weights(x, 3, 0.8), expected)
    with pytest.raises(ValueError, match="one length"):
        encode_sequences(["AC", "ACD"])
    with pytest.raises(ValueError, match="not in the alphabet"):
        encode_sequences(["A1"])
    (tmp_path / "bad.fasta").write_text("ACD\n>s\nAC\n")
    with pytest.raises(ValueError, match="before the first"):
        read_fasta(tmp_path / "bad.fasta")


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda m: m.energy(np.array([[0, 1, 3, 0]])), ValueError, r"states in \[0, 3\)"),
    (lambda m: m.energy([[0, 1, 2]]), ValueError, "shape"),
    (lambda m: m.energy([[0.5, 1, 2, 0]]), TypeError, "integer"),
    (lambda m: m.gibbs([[0, 1, 2, 0]], 0), ValueError, "sweeps"),
    (lambda m: m.contact_scores(ignore_states=[3]), ValueError, "ignore_states"),
    (lambda m: fit_potts(m, [[0, 1, 2, 0]], weights=[-1.0], progress=False), ValueError,
     "weights"),
    (lambda m: fit_potts(m, [[0, 1, 2, 0]], lambda_j=-1, progress=False), ValueError,
     "lambda_j"),
    (lambda m: PottsModel(4, 3, alphabet="AB"), ValueError, "alphabet"),
    (lambda m: PottsModel(30, 21).log_partition_exact(), ValueError, "enumeration"),
    (lambda m: planted_potts_model(4, 3, 7), ValueError, "n_contacts"),
])
def test_bad_inputs_are_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(_model())

"""Deep belief nets: joined units, greedy stacking, generation, fine-tuning, saving."""

import itertools

import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import harmonium
from harmonium import DBN, RBM, fine_tune, fit_greedy
from harmonium.datasets import load_digits
from harmonium.partition import log_likelihood_exact, log_partition_exact
from harmonium.units import Bernoulli, Categorical
from harmonium.units.joined import Joined


class Recorder:
    """A CD-1 training method that remembers every mini-batch it is shown."""

    def __init__(self):
        self.cd, self.seen = harmonium.CD(1), []

    def negative(self, rbm, v_data, inputs_h, *, generator=None):
        self.seen.append(v_data.clone())
        return self.cd.negative(rbm, v_data, inputs_h, generator=generator)

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def _rows(x):
    return sorted(map(tuple, x.tolist()))


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits()
    return train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)


# ----- joined units -----------------------------------------------------------------------
def _joined_rbm(seed=0):
    g = torch.Generator().manual_seed(seed)
    rbm = RBM(Joined(Bernoulli(3), Categorical(1, 3)), Bernoulli(3), weight_std=0.7,
              generator=g).double()
    with torch.no_grad():
        rbm.visible.params.normal_(generator=g)
        rbm.hidden.params.normal_(generator=g)
    return rbm


def _joined_states():
    rows = [[*f, *(1.0 if i == label else 0.0 for i in range(3))]
            for f in itertools.product([0.0, 1.0], repeat=3) for label in range(3)]
    return torch.tensor(rows, dtype=torch.float64)


def test_joined_layer_matches_enumeration():
    rbm = _joined_rbm()
    v, layer = _joined_states(), rbm.visible
    assert layer.shape == (6,) and layer.n_units == 4
    h = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)), dtype=torch.float64)
    with torch.no_grad():
        energy = torch.stack([rbm.energy(v, hh.expand(len(v), 3)) for hh in h], 1)  # (v, h)
        torch.testing.assert_close(log_partition_exact(rbm), torch.logsumexp(-energy.flatten(), 0))
        # p(v | h): Bernoulli features and a softmax label, from the joint table
        p_v_given_h = torch.softmax(-energy, 0)
        torch.testing.assert_close(rbm.mean_v_from_h(h), (p_v_given_h.T @ v))
    inputs = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(layer.cgf(inputs).sum(), inputs)
    torch.testing.assert_close(grad, layer.mean_from_inputs(inputs))


def test_joined_samples_are_valid_and_match_means():
    rbm = _joined_rbm(1)
    inputs = torch.randn(1, 6, dtype=torch.float64).expand(20_000, 6)
    x = rbm.visible.sample_from_inputs(inputs, generator=torch.Generator().manual_seed(2))
    assert torch.equal(x[:, 3:].sum(1), torch.ones(20_000, dtype=torch.float64))
    err = (x.mean(0) - rbm.visible.mean_from_inputs(inputs[:1])[0]).abs().max()
    assert err < 5 * 0.5 / 20_000**0.5


def test_joined_gradients_reach_its_parameters():
    rbm = _joined_rbm()
    rbm.free_energy(_joined_states()).sum().backward()
    assert rbm.visible.params.grad is not None and rbm.visible.params.grad.abs().sum() > 0


def test_joined_bad_parts():
    from harmonium.units import Gaussian

    with pytest.raises(ValueError, match="at least two"):
        Joined(Bernoulli(3))
    with pytest.raises(ValueError, match="same parameters"):
        Joined(Bernoulli(3), Gaussian(2))
    with pytest.raises(TypeError, match="unit layers"):
        Joined(Bernoulli(3), "labels")
    with pytest.raises(ValueError, match="one-hot"):
        _joined_rbm().free_energy(torch.tensor([[0.0, 1.0, 0.0, 1.0, 1.0, 0.0]]))


# ----- greedy stacking --------------------------------------------------------------------
def test_each_layer_trains_on_the_means_of_the_layer_below(digits):
    x = torch.tensor(digits[0][:200], dtype=torch.float32)
    dbn = DBN([64, 20, 10, 6], generator=torch.Generator().manual_seed(0))
    methods = [Recorder() for _ in range(3)]
    histories = fit_greedy(dbn, x, method=methods, epochs=[2, 1, 1], batch_size=50,
                           monitor=0, generator=torch.Generator().manual_seed(1),
                           progress=False)
    assert [len(h) for h in histories] == [2, 1, 1]
    assert [tuple(r.weight.shape) for r in dbn.rbms] == [(64, 20), (20, 10), (10, 6)]
    with torch.no_grad():
        h1 = dbn.rbms[0].mean_h_from_v(x)
        h2 = dbn.rbms[1].mean_h_from_v(h1)
    assert _rows(torch.cat(methods[1].seen)) == _rows(h1)
    assert _rows(torch.cat(methods[2].seen)) == _rows(h2)
    torch.testing.assert_close(dbn.transform(x), dbn.rbms[2].mean_h_from_v(h2))


def test_sampled_activations_and_labels_reach_the_top_rbm(digits):
    x = torch.tensor(digits[0][:100], dtype=torch.float32)
    y = torch.tensor(digits[2][:100])
    dbn = DBN([64, 12, 8], n_labels=10, generator=torch.Generator().manual_seed(0))
    methods = [Recorder(), Recorder()]
    fit_greedy(dbn, x, y, method=methods, epochs=1, batch_size=100, monitor=0,
               activations="samples", generator=torch.Generator().manual_seed(1),
               progress=False)
    top = methods[1].seen[0]
    assert top.shape == (100, 22)
    assert ((top[:, :12] == 0) | (top[:, :12] == 1)).all()
    assert _rows(top[:, 12:].argmax(1, keepdim=True)) == _rows(y[:, None])


def test_second_layer_raises_exact_log_likelihood_of_first_layer_codes():
    g = torch.Generator().manual_seed(3)
    prototypes = (torch.rand(3, 16, generator=g) < 0.5).float()
    noise = torch.rand(300, 16, generator=g) < 0.05
    x = torch.where(noise, 1 - prototypes.repeat(100, 1), prototypes.repeat(100, 1))
    dbn = DBN([16, 10, 6], generator=g)
    initial = RBM(Bernoulli(10), Bernoulli(6))
    initial.load_state_dict(dbn.rbms[1].state_dict())
    rec = [harmonium.CD(1), Recorder()]
    fit_greedy(dbn, x, method=rec, epochs=[20, 20], batch_size=20, lr=0.1, monitor=0,
               activations="samples", generator=g, progress=False)
    codes = torch.cat(rec[1].seen[: 300 // 20])  # the first epoch sees every code once
    before = log_likelihood_exact(initial, codes).item()
    after = log_likelihood_exact(dbn.rbms[1], codes).item()
    assert after > before + 1.0  # nats per code; 10 independent fair bits give -6.93


def test_checkpoints_per_layer_and_resume(tmp_path, digits):
    x = digits[0][:100]
    dbn = DBN([64, 8, 4], generator=torch.Generator().manual_seed(0))
    fit_greedy(dbn, x, epochs=2, monitor=0, checkpoint=tmp_path,
               generator=torch.Generator().manual_seed(1), progress=False)
    assert {p.name for p in tmp_path.iterdir()} == {
        "layer1.safetensors", "layer2.safetensors", "dbn.safetensors"}
    fresh = DBN([64, 8, 4], generator=torch.Generator().manual_seed(5))
    fit_greedy(fresh, x, epochs=2, monitor=0, checkpoint=tmp_path, progress=False)
    for a, b in zip(fresh.rbms, dbn.rbms, strict=True):
        torch.testing.assert_close(a.weight, b.weight)
    saved = harmonium.load(tmp_path / "dbn.safetensors")
    torch.testing.assert_close(saved.rbms[1].weight, dbn.rbms[1].weight)


# ----- classification and generation ----------------------------------------------------
def test_fine_tuned_dbn_classifies_digits(digits):
    x_tr, x_te, y_tr, y_te = digits
    g = torch.Generator().manual_seed(0)
    dbn = DBN([64, 256], generator=g)
    fit_greedy(dbn, x_tr, epochs=15, batch_size=20, lr=0.1, monitor=0, generator=g,
               progress=False)
    history = fine_tune(dbn, x_tr, y_tr, epochs=20, batch_size=32, weight_decay=1e-4,
                        validation_data=(x_te, y_te), generator=g, progress=False)
    accuracy = (dbn.predict(x_te).numpy() == y_te).mean()
    assert accuracy >= 0.97
    assert history["val_accuracy"][-1] == pytest.approx(accuracy)


@pytest.fixture(scope="module")
def labelled(digits):
    x_tr, _, y_tr, _ = digits
    g = torch.Generator().manual_seed(0)
    dbn = DBN([64, 64, 128], n_labels=10, generator=g)
    fit_greedy(dbn, x_tr, y_tr, epochs=10, batch_size=20, lr=0.1, monitor=0, generator=g,
               progress=False)
    return dbn


def test_generative_classification(labelled, digits):
    _, x_te, _, y_te = digits
    assert (labelled.predict(x_te).numpy() == y_te).mean() > 0.6  # chance is 0.1


def test_label_posterior_matches_enumeration():
    dbn = DBN([5, 4, 3], n_labels=3, generator=torch.Generator().manual_seed(0),
              weight_std=0.8)
    top = dbn.rbms[-1].double()
    f = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 1.0]], dtype=torch.float64)
    h = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)), dtype=torch.float64)
    expected = []
    for row in f:
        scores = []
        for label in range(3):
            v = torch.cat([row, torch.eye(3, dtype=torch.float64)[label]])[None]
            scores.append(torch.logsumexp(-top.energy(v.expand(8, 7), h), 0))
        expected.append(torch.log_softmax(torch.stack(scores), 0))
    with torch.no_grad():
        torch.testing.assert_close(dbn.label_log_proba(f), torch.stack(expected))


def test_dreams_look_like_their_class(labelled, digits):
    x_tr, _, y_tr, _ = digits
    judge = LogisticRegression(max_iter=2000).fit(x_tr, y_tr)
    g = torch.Generator().manual_seed(4)
    dreams = torch.cat([harmonium.dream(labelled, c, 10, 200, generator=g) for c in range(10)])
    assert dreams.shape == (100, 64) and (dreams >= 0).all() and (dreams <= 1).all()
    hits = (judge.predict(dreams.numpy()) == torch.arange(10).repeat_interleave(10).numpy())
    assert hits.mean() > 0.3  # chance is 0.1
    again = labelled.dream(3, 10, 200, generator=torch.Generator().manual_seed(7))
    assert torch.equal(again, labelled.dream(3, 10, 200,
                                             generator=torch.Generator().manual_seed(7)))


def test_unrolled_network_reproduces_the_up_pass(labelled, digits):
    x = torch.tensor(digits[1][:20], dtype=torch.float32)
    net = labelled.to_sequential()
    with torch.no_grad():
        features = labelled.transform(x)
        torch.testing.assert_close(net[:2](x), features)
        top = labelled.rbms[-1]
        h = torch.sigmoid(features @ top.weight[:64] + top.hidden.bias)
        torch.testing.assert_close(net[:-1](x), h)
        # the output layer is the label unit's softmax given the top hidden layer
        label_means = top.visible.split(top.mean_v_from_h(h))[1][:, 0]
        torch.testing.assert_close(torch.softmax(net(x), 1), label_means)


def test_save_and_load_whole_dbn_with_classifier(tmp_path, digits):
    x_tr, x_te, y_tr, _ = digits
    g = torch.Generator().manual_seed(0)
    dbn = DBN([64, 16, 8], n_labels=10, generator=g)
    fit_greedy(dbn, x_tr[:200], y_tr[:200], epochs=1, monitor=0, generator=g, progress=False)
    generative = dbn.predict_proba(x_te[:10])
    back = harmonium.load(harmonium.save(dbn, tmp_path / "g.safetensors"))
    torch.testing.assert_close(back.predict_proba(x_te[:10]), generative)
    fine_tune(dbn, x_tr[:200], y_tr[:200], epochs=1, generator=g, progress=False)
    back = harmonium.load(harmonium.save(dbn, tmp_path / "f.safetensors"))
    assert back.classifier is not None and back.extra_repr() == dbn.extra_repr()
    torch.testing.assert_close(back.predict_proba(x_te[:10]), dbn.predict_proba(x_te[:10]))


# ----- bad inputs -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        (([64],), {}, ValueError),
        (([64, 0],), {}, ValueError),
        (("64-32",), {}, TypeError),
        (([64, 32.5],), {}, TypeError),
        (([64, 32, 16],), {"n_labels": 1}, ValueError),
        (([64, 32],), {"n_labels": 10}, ValueError),
        (([64, 32],), {"visible": "potts"}, ValueError),
    ],
)
def test_bad_constructor_arguments(args, kwargs, error):
    with pytest.raises(error):
        DBN(*args, **kwargs)


def test_bad_calls(digits):
    x, y = digits[0][:30], digits[2][:30]
    plain = DBN([64, 8])
    labelled = DBN([64, 8, 4], n_labels=10)
    with pytest.raises(ValueError, match="pass labels"):
        fit_greedy(labelled, x, progress=False)
    with pytest.raises(ValueError, match="no label units"):
        fit_greedy(plain, x, y, progress=False)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        fit_greedy(labelled, x, y + 5, progress=False)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fit_greedy(plain, x * 16, progress=False)
    with pytest.raises(ValueError, match="activations"):
        fit_greedy(plain, x, activations="modes", progress=False)
    with pytest.raises(ValueError, match="one per RBM"):
        fit_greedy(plain, x, epochs=[1, 2], progress=False)
    with pytest.raises(TypeError, match="resume"):
        fit_greedy(plain, x, resume=True, progress=False)
    with pytest.raises(TypeError, match="DBN"):
        fit_greedy(RBM(Bernoulli(64), Bernoulli(8)), x, progress=False)
    with pytest.raises(ValueError, match="label units"):
        plain.dream(3)
    with pytest.raises(ValueError, match="label must be"):
        labelled.dream(10)
    with pytest.raises(ValueError, match="label units"):
        plain.predict(x)
    with pytest.raises(ValueError, match="depth"):
        labelled.transform(x, depth=2)
    with pytest.raises(ValueError, match="n_classes"):
        plain.to_sequential()
    with pytest.raises(ValueError, match="lr"):
        fine_tune(plain, x, y, lr=0.0, progress=False)
    with pytest.raises(ValueError, match="shape"):
        fine_tune(plain, x, y[:10], progress=False)
    with pytest.raises(ValueError, match="64 features"):
        plain.transform(x[:, :10])
    with pytest.raises(TypeError, match="DBN"):
        harmonium.dream(plain.rbms[0], 3)


def test_load_puts_every_tensor_on_the_requested_device(tmp_path):
    # the meta device stands in for a GPU: loading must not leave anything on the CPU
    g = torch.Generator().manual_seed(0)
    for n_labels in (0, 10):
        dbn = DBN([12, 6, 4], n_labels=n_labels, generator=g).double()
        dbn.classifier = dbn.to_sequential(None if n_labels else 3, generator=g)
        path = harmonium.save(dbn, tmp_path / f"dbn{n_labels}.safetensors")
        back = harmonium.load(path, device="meta")
        tensors = [*back.parameters(), *back.buffers()]
        assert len(tensors) == len([*dbn.parameters(), *dbn.buffers()])
        assert {(t.device.type, t.dtype) for t in tensors} == {("meta", torch.float64)}

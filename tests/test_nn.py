import math

import pytest
import torch
from torch.nn.functional import layer_norm, scaled_dot_product_attention

from harmonium.nn import Hopfield, HopfieldLayer, HopfieldPooling


def _spins(*shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, shape, generator=g).float() * 2 - 1


def _flip(x, frac, seed):
    g = torch.Generator().manual_seed(seed)
    out = x.clone()
    out[torch.rand(x.shape, generator=g) < frac] *= -1
    return out


def _attention(layer, state, stored, mask=None):
    """Independent computation with torch's scaled_dot_product_attention."""
    b, n, _ = state.shape
    m, h = stored.shape[1], layer.num_heads

    def heads(t, length):
        return t.view(b, length, h, -1).transpose(1, 2)

    q = heads(layer_norm(state, state.shape[-1:]) @ layer.query.weight.T, n)
    k = heads(layer_norm(stored, stored.shape[-1:]) @ layer.key.weight.T, m)
    v = heads(stored @ layer.value.weight.T, m)
    z = scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=layer.beta)
    return z.transpose(1, 2).reshape(b, n, -1) @ layer.out.weight.T


def test_hopfield_equals_softmax_attention_with_its_projections():
    torch.manual_seed(0)
    layer = Hopfield(12, stored_size=10, head_size=4, output_size=7, num_heads=4)
    with torch.no_grad():  # move away from the tied initialisation
        for p in layer.parameters():
            p.add_(0.3 * torch.randn_like(p))
    state, stored = torch.randn(3, 5, 12), torch.randn(3, 9, 10)
    torch.testing.assert_close(layer(state, stored), _attention(layer, state, stored))
    mask = torch.rand(3, 1, 5, 9) < 0.7
    mask[..., 0] = True
    torch.testing.assert_close(layer(state, stored, mask=mask[:, 0]),
                               _attention(layer, state, stored, mask))
    assert layer.beta == pytest.approx(1 / 2)  # 1/sqrt(head_size)


def test_hopfield_default_retrieves_stored_patterns_in_one_step():
    torch.manual_seed(1)
    x = _spins(32, 128, seed=0)
    out = Hopfield(128)(_flip(x, 0.1, 1)[None], x[None])[0]
    assert (out.sign() == x).all()
    assert torch.nn.functional.cosine_similarity(out, x).min() > 0.99
    # self-attention form, unbatched input
    torch.testing.assert_close(Hopfield(128)(x).sign(), x)


def test_layer_default_retrieves_and_update_lowers_its_energy():
    torch.manual_seed(2)
    x = _spins(32, 128, seed=2)
    layer = HopfieldLayer(128, num_patterns=32).store(x)
    out = layer(_flip(x, 0.1, 3))
    assert (out.sign() == x).all() and (out - x).abs().max() < 0.1
    raw = HopfieldLayer(8, num_patterns=5, beta=0.7, normalize=False)
    q = 2 * torch.randn(20, 8)
    with torch.no_grad():
        assert (raw.energy(raw(q)) <= raw.energy(q) + 1e-5).all()
    assert raw.energy(q[0]).shape == ()


def test_energies_have_the_documented_shapes():
    torch.manual_seed(3)
    h = Hopfield(8, num_heads=2)
    assert h.energy(torch.randn(4, 5, 8), torch.randn(4, 6, 8)).shape == (4, 5)
    assert h.energy(torch.randn(5, 8)).shape == (5,)
    p = HopfieldPooling(8, num_queries=3)
    assert p.energy(torch.randn(4, 6, 8)).shape == (4, 3)
    assert p(torch.randn(4, 6, 8)).shape == (4, 24)
    assert p(torch.randn(6, 8)).shape == (24,)
    assert HopfieldLayer(8, num_patterns=5, output_size=3)(torch.randn(2, 7, 8)).shape == (2, 7, 3)


def test_pooling_mask_ignores_padding():
    torch.manual_seed(4)
    p = HopfieldPooling(6)
    stored = torch.randn(2, 5, 6)
    padded = torch.cat([stored, 100 * torch.randn(2, 3, 6)], dim=1)
    mask = torch.tensor([[True] * 5 + [False] * 3] * 2)
    torch.testing.assert_close(p(padded, mask=mask), p(stored))


def test_all_parameters_receive_gradients():
    torch.manual_seed(5)
    for module, args in [
        (Hopfield(6, stored_size=4, output_size=3), (torch.randn(2, 3, 6), torch.randn(2, 5, 4))),
        (HopfieldPooling(6, num_queries=2), (torch.randn(2, 5, 6),)),
        (HopfieldLayer(6, num_patterns=4, output_size=2), (torch.randn(3, 6),)),
    ]:
        (module(*args).pow(2).sum() + module.energy(*args).sum()).backward()
        for name, p in module.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_hopfield_pooling_learns_multiple_instance_task():
    # a bag is positive iff it contains (a noisy copy of) a planted pattern
    g = torch.Generator().manual_seed(6)
    d, bag, n = 16, 8, 2048
    planted = torch.randn(d, generator=g)

    def bags(count):
        x = torch.randn(count, bag, d, generator=g)
        y = torch.rand(count, generator=g) < 0.5
        where = torch.randint(0, bag, (count,), generator=g)
        idx = torch.arange(count)[y]
        x[idx, where[y]] = planted + 0.3 * torch.randn(int(y.sum()), d, generator=g)
        return x, y.float()

    x_train, y_train = bags(n)
    x_test, y_test = bags(n)
    torch.manual_seed(6)
    model = torch.nn.Sequential(HopfieldPooling(d), torch.nn.Linear(d, 1))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(150):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            model(x_train).squeeze(1), y_train)
        loss.backward()
        opt.step()
    with torch.no_grad():
        accuracy = ((model(x_test).squeeze(1) > 0).float() == y_test).float().mean()
    assert accuracy > 0.95


@pytest.mark.parametrize("beta", [0, -1.0, math.nan, True])
def test_bad_beta_raises(beta):
    with pytest.raises(ValueError, match="beta"):
        Hopfield(4, beta=beta)
    with pytest.raises(ValueError, match="beta"):
        HopfieldLayer(4, num_patterns=2, beta=beta)


def test_bad_inputs_raise():
    h = Hopfield(4)
    with pytest.raises(ValueError, match="last dimension 4"):
        h(torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match="last dimension 4"):
        h(torch.randn(2, 3, 4), torch.randn(2, 3, 6))
    with pytest.raises(ValueError, match="empty"):
        h(torch.randn(2, 3, 4), torch.randn(2, 0, 4))
    with pytest.raises(ValueError, match="NaN"):
        h(torch.full((1, 2, 4), math.nan))
    with pytest.raises(ValueError, match="shape"):
        h(torch.randn(4))
    with pytest.raises(ValueError, match="divisible"):
        Hopfield(4, num_heads=3)
    with pytest.raises(TypeError, match="input_size"):
        Hopfield(4.0)
    p = HopfieldPooling(4)
    with pytest.raises(ValueError, match="empty"):
        p(torch.randn(2, 0, 4))
    with pytest.raises(ValueError, match="last dimension 4"):
        p(torch.randn(2, 3, 3))
    layer = HopfieldLayer(4, num_patterns=3)
    with pytest.raises(ValueError, match="last dimension 4"):
        layer(torch.randn(2, 5))
    with pytest.raises(ValueError, match="NaN"):
        layer(torch.full((2, 4), math.inf))
    with pytest.raises(ValueError, match="shape"):
        layer.store(torch.randn(2, 4))
    with pytest.raises(ValueError, match="empty"):
        layer.store(torch.randn(0, 4))
    with pytest.raises(ValueError, match="rows"):
        layer.store(torch.randn(3, 4), values=torch.randn(2, 4))


@pytest.mark.parametrize("heads", [1, 4, 8])
def test_untrained_multi_head_hopfield_retrieves(heads):
    # beta defaults to 1/sqrt(head size): each head separates its own scores. With
    # 1/sqrt(hidden_size) 4 heads recovered 49 and 8 heads none of these 50 patterns.
    torch.manual_seed(7)
    x = _spins(50, 512, seed=8)
    layer = Hopfield(512, num_heads=heads)
    assert layer.beta == pytest.approx(1 / math.sqrt(512 / heads))
    with torch.no_grad():
        out = layer(_flip(x, 0.1, 9)[None], x[None])[0]
    assert (out.sign() == x).all()
    assert torch.nn.functional.cosine_similarity(out, x).min() > 0.95


def test_one_dimensional_padding_mask_broadcasts():
    torch.manual_seed(10)
    layer = Hopfield(6)
    state, stored = torch.randn(2, 3, 6), torch.randn(2, 5, 6)
    padded = torch.cat([stored, 100 * torch.randn(2, 2, 6)], dim=1)
    mask = torch.tensor([True] * 5 + [False] * 2)
    torch.testing.assert_close(layer(state, padded, mask=mask), layer(state, stored))
    torch.testing.assert_close(layer(state[0], padded[0], mask=mask), layer(state[0], stored[0]))
    with pytest.raises(ValueError, match="broadcastable"):
        layer(state, padded, mask=torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="no stored pattern"):
        layer(state, padded, mask=torch.zeros(7, dtype=torch.bool))

"""harmonium.nn.hflayers runs hopfield-layers' examples, and the layers' iteration features.

The parameter counts are written down by hand from the parameter shapes hopfield-layers
documents (hflayers is not installed and is not a dependency): a layer norm of width w
has 2w parameters, the state/stored/projection maps num_heads * hidden_size (or
pattern_size) by their input width plus one bias each, the output map its weights plus
output_size biases.
"""

import math

import pytest
import torch

from harmonium.models.modern_hopfield import recall
from harmonium.nn import Hopfield as NativeHopfield
from harmonium.nn import HopfieldLayer as NativeLayer
from harmonium.nn import HopfieldPooling as NativePooling
from harmonium.nn.hflayers import Hopfield, HopfieldLayer, HopfieldPooling
from harmonium.sparse import SEPARATIONS


def _count(module):
    return sum(p.numel() for p in module.parameters())


STATIC = dict(state_pattern_as_static=True, stored_pattern_as_static=True,
              pattern_projection_as_static=True, normalize_stored_pattern=False,
              normalize_stored_pattern_affine=False, normalize_state_pattern=False,
              normalize_state_pattern_affine=False, normalize_pattern_projection=False,
              normalize_pattern_projection_affine=False, disable_out_projection=True)


# (constructor, kwargs, input shapes, output shape, parameter count by hand)
README_EXAMPLES = [
    # the issue's port: 3 norms 3*2*16 + maps 3*(8*8)*16 + biases 3*64 + out 64*16+16
    (Hopfield, dict(input_size=16, hidden_size=8, num_heads=8, update_steps_max=3,
                    scaling=0.25, dropout=0.5), (2, 5, 16), (2, 5, 16), 4400),
    # bit-pattern notebook (8 bits): norms 48, maps 3*8*8, biases 24, out 64+8
    (Hopfield, dict(input_size=8), (4, 16, 8), (4, 16, 8), 336),
    (Hopfield, dict(input_size=8, hidden_size=8, num_heads=8, update_steps_max=3,
                    scaling=0.25, dropout=0.5), (4, 16, 8), (4, 16, 8), 2296),
    (HopfieldPooling, dict(input_size=8), (4, 16, 8), (4, 8), 336 + 8),
    (HopfieldPooling, dict(input_size=8, hidden_size=8, num_heads=8, update_steps_max=3,
                           scaling=0.25, dropout=0.5), (4, 16, 8), (4, 8), 2296 + 8),
    (HopfieldLayer, dict(input_size=8, quantity=6), (4, 16, 8), (4, 16, 8), 336 + 48),
    (HopfieldLayer, dict(input_size=8, quantity=6, lookup_weights_as_separated=True,
                         lookup_targets_as_trainable=False,
                         normalize_stored_pattern_affine=True,
                         normalize_pattern_projection_affine=True),
     (4, 16, 8), (4, 16, 8), 336 + 48 + 48),
    # MNIST-bags notebook: norms 3*1000, maps 3*32*500 + 96, out 32*500 + 500, pool 500
    (HopfieldPooling, dict(input_size=500, hidden_size=32, output_size=500, num_heads=1),
     (1, 11, 500), (1, 500), 3000 + 48000 + 96 + 16500 + 500),
    # blog, pooling sketches: (2, 4) -> 2 x 4 and (3, 5) -> 2 x 5
    (HopfieldPooling, dict(input_size=4, hidden_size=3, scaling=0.5, quantity=2),
     (1, 2, 4), (1, 8), 24 + 36 + 9 + 16 + 8),
    (HopfieldPooling, dict(input_size=5, hidden_size=3, scaling=0.5, quantity=2),
     (1, 3, 5), (1, 10), 30 + 45 + 9 + 20 + 10),
    # blog lookup with static stored and state patterns: value map 3 -> 4 (+4), out
    # 4 -> 3 (+3), norms 3*6, lookup weights 4 x 3
    (HopfieldLayer, dict(input_size=3, hidden_size=3, pattern_size=4, quantity=4,
                         scaling=0.5, stored_pattern_as_static=True,
                         state_pattern_as_static=True), (1, 2, 3), (1, 2, 3),
     16 + 15 + 18 + 12),
    # blog lookup, all static, separate frozen targets: out 3*3+3, norms 18, 2 x (4 x 3)
    (HopfieldLayer, dict(input_size=3, hidden_size=3, quantity=4, scaling=0.5,
                         lookup_weights_as_separated=True, lookup_targets_as_trainable=False,
                         stored_pattern_as_static=True, state_pattern_as_static=True,
                         pattern_projection_as_static=True), (1, 2, 3), (1, 2, 3),
     12 + 18 + 24),
    # connected projections, Hopfield-space norm, no out projection, no biases
    (Hopfield, dict(input_size=8, pattern_projection_as_connected=True), (2, 3, 8),
     (2, 3, 8), 336),
    (Hopfield, dict(input_size=8, hidden_size=4, num_heads=2, normalize_hopfield_space=True,
                    normalize_hopfield_space_affine=True), (2, 3, 8), (2, 3, 8), 344),
    (Hopfield, dict(input_size=8, hidden_size=4, num_heads=2, disable_out_projection=True),
     (2, 3, 8), (2, 3, 8), 192 + 24 + 48),
    (Hopfield, dict(input_size=8, input_bias=False, add_zero_association=True), (2, 3, 8),
     (2, 3, 8), 192 + 64 + 48),
]


@pytest.mark.parametrize("cls, kwargs, shape, out_shape, count", README_EXAMPLES)
def test_hflayers_examples_have_its_shapes_and_parameter_counts(cls, kwargs, shape,
                                                                out_shape, count):
    torch.manual_seed(0)
    layer = cls(**kwargs)
    assert _count(layer) == count
    out = layer(torch.randn(shape))
    assert out.shape == out_shape
    out.sum().backward()


def test_blog_example_with_stored_state_and_projection_of_different_widths():
    # Hopfield(input_size=3, hidden_size=3, stored_pattern_size=4,
    # pattern_projection_size=4): maps 9 + 12 + 12, biases 9, out 12, norms 8 + 6 + 8
    torch.manual_seed(1)
    layer = Hopfield(input_size=3, hidden_size=3, stored_pattern_size=4,
                     pattern_projection_size=4, scaling=0.5)
    assert _count(layer) == 33 + 9 + 12 + 22
    y, r = torch.randn(1, 5, 4), torch.randn(1, 2, 3)
    assert layer((y, r, y)).shape == (1, 2, 3)


def test_the_issue_port_no_longer_means_something_else():
    # harmonium's own layer refuses hidden_size instead of reading it as the total
    with pytest.raises(TypeError, match="head_size"):
        NativeHopfield(16, hidden_size=8, num_heads=8)
    with pytest.raises(TypeError):
        NativeHopfield(16, 8)  # second positional: hflayers' hidden_size, not stored_size
    with pytest.raises(TypeError):
        NativeLayer(256, 1000)
    assert _count(NativeHopfield(16, head_size=8, num_heads=8)) == 4 * 64 * 16


@pytest.mark.parametrize("steps", [0, 1, 4])
def test_static_hopfield_is_the_modern_hopfield_update_iterated(steps):
    g = torch.Generator().manual_seed(2)
    y = torch.randn(1, 7, 5, generator=g, dtype=torch.float64)
    r = torch.randn(1, 3, 5, generator=g, dtype=torch.float64)
    layer = Hopfield(scaling=0.8, update_steps_max=steps, update_steps_eps=1e-300, **STATIC)
    assert _count(layer) == 0
    expected = recall(r[0], y[0], 0.8, max_sweeps=steps + 1, tol=0.0).states
    torch.testing.assert_close(layer((y, r, y))[0], expected)
    # static-only default scaling is 1: one step is softmax(R Y') Y
    plain = Hopfield(**STATIC)((y, r, y))[0]
    torch.testing.assert_close(plain, torch.softmax(r[0] @ y[0].T, -1) @ y[0])


def test_unbounded_updates_reach_a_fixed_point():
    g = torch.Generator().manual_seed(3)
    y = torch.randn(1, 6, 4, generator=g, dtype=torch.float64)
    r = torch.randn(1, 5, 4, generator=g, dtype=torch.float64)
    layer = Hopfield(scaling=1.5, update_steps_max=None, update_steps_eps=1e-12, **STATIC)
    out = layer((y, r, y))
    torch.testing.assert_close(layer((y, out, y)), out, atol=1e-9, rtol=0)
    trace = layer.get_energy_trace((y, r, y))
    assert trace.shape[0] > 3  # it iterated, then stopped on its own


@pytest.mark.parametrize("separation", SEPARATIONS)
def test_energy_trace_never_increases_with_trained_style_projections(separation):
    torch.manual_seed(4)
    layer = Hopfield(input_size=12, hidden_size=6, num_heads=2, update_steps_max=6,
                     separation=separation, scaling=2.0)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.5 * torch.randn_like(p))
    x = torch.randn(3, 7, 12)
    trace = layer.get_energy_trace(x)
    assert trace.shape[0] <= 7 and trace.shape[1:] == (3, 2, 7)  # stops once converged
    assert (trace[1:] <= trace[:-1] + 1e-5).all()
    assert (trace >= -1e-5).all()
    weights = layer.get_association_matrix(x)
    assert weights.shape == (3, 2, 7, 7)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, 7))
    assert layer.get_projected_pattern_matrix(x).shape == (3, 2, 7, 6)


def test_dropout_acts_on_the_association_only_in_training_mode():
    torch.manual_seed(5)
    layer = Hopfield(input_size=8, dropout=0.5)
    clean = Hopfield(input_size=8)
    clean.load_state_dict(layer.state_dict())
    x = torch.randn(2, 9, 8)
    layer.eval()
    torch.testing.assert_close(layer(x), clean(x))
    layer.train()
    a, b = layer(x), layer(x)
    assert not torch.allclose(a, b) and not torch.allclose(a, clean(x))
    native = NativeHopfield(8, dropout=0.5)
    native.eval()
    torch.testing.assert_close(native(x), native(x))
    native.train()
    assert not torch.allclose(native(x), native(x))


def test_masks_follow_hflayers_conventions():
    torch.manual_seed(6)
    layer = Hopfield(input_size=6, num_heads=2)
    state, stored = torch.randn(2, 3, 6), torch.randn(2, 5, 6)
    padded = torch.cat([stored, 50 * torch.randn(2, 2, 6)], dim=1)
    pad = torch.tensor([[False] * 5 + [True] * 2] * 2)  # True = ignore
    torch.testing.assert_close(layer((padded, state, padded), stored_pattern_padding_mask=pad),
                               layer((stored, state, stored)))
    blocked = torch.zeros(3, 7, dtype=torch.bool)
    blocked[:, 5:] = True  # True = may not attend
    torch.testing.assert_close(layer((padded, state, padded), association_mask=blocked),
                               layer((stored, state, stored)))
    additive = torch.zeros(3, 7).masked_fill(blocked, -math.inf)
    per_head = additive.expand(2 * 2, 3, 7)
    torch.testing.assert_close(layer((padded, state, padded), association_mask=per_head),
                               layer((stored, state, stored)))
    with pytest.raises(ValueError, match="association_mask must have shape"):
        layer((padded, state, padded), association_mask=blocked[:, :4])
    with pytest.raises(ValueError, match="no stored pattern"):
        layer(state, association_mask=torch.ones(3, 3, dtype=torch.bool))


def test_batch_first_false_takes_and_returns_sequence_first():
    torch.manual_seed(7)
    first = Hopfield(input_size=6, hidden_size=4, num_heads=2)
    second = Hopfield(input_size=6, hidden_size=4, num_heads=2, batch_first=False)
    second.load_state_dict(first.state_dict())
    x = torch.randn(2, 5, 6)
    torch.testing.assert_close(second(x.transpose(0, 1)), first(x).transpose(0, 1))
    lookup = HopfieldLayer(input_size=6, quantity=3, batch_first=False)
    assert lookup(torch.randn(5, 2, 6)).shape == (5, 2, 6)


def test_static_stored_patterns_and_activation():
    torch.manual_seed(8)
    layer = Hopfield(input_size=4, hidden_size=4, stored_pattern_as_static=True,
                     pattern_projection_as_static=True, association_activation="tanh")
    # only the state map (16 + 4 biases), out (16 + 4) and the norms (24) are parameters;
    # hflayers also allocates 4 value biases it never uses
    assert _count(layer) == 20 + 20 + 24
    y, r = torch.randn(2, 6, 4), torch.randn(2, 3, 4)
    out = layer((y, r, y))
    assert out.shape == (2, 3, 4) and out.abs().max() < 1


def test_unsupported_and_ambiguous_arguments_raise():
    with pytest.raises(ValueError, match="concat_bias_pattern"):
        Hopfield(input_size=4, concat_bias_pattern=True)
    with pytest.raises(TypeError, match="per-head"):
        Hopfield(input_size=4, update_steps_max=torch.tensor([1]))
    with pytest.raises(ValueError, match="affine"):
        Hopfield(input_size=4, normalize_stored_pattern=False)
    with pytest.raises(ValueError, match="batch_first"):
        HopfieldPooling(input_size=4, batch_first=False)
    with pytest.raises(ValueError, match="divisible"):
        Hopfield(input_size=6, num_heads=4)
    with pytest.raises(ValueError, match="input_size is required"):
        Hopfield()
    with pytest.raises(ValueError, match="scaling"):
        Hopfield(input_size=4, num_heads=2, scaling=torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="update_steps_max"):
        Hopfield(input_size=4, update_steps_max=-1)
    with pytest.raises(ValueError, match="dropout"):
        Hopfield(input_size=4, dropout=1.0)
    with pytest.raises(TypeError, match="keyword"):
        HopfieldLayer(4, 4, 4, 4, 1, 1.0, 0, 1e-4, True)
    with pytest.raises(ValueError, match="share the batch size"):
        Hopfield(input_size=4)((torch.randn(2, 5, 4), torch.randn(2, 3, 4), torch.randn(2, 4, 4)))
    with pytest.raises(TypeError, match="tuple"):
        Hopfield(input_size=4)([torch.randn(2, 5, 4)] * 3)


def test_native_layers_iterate_trace_and_separate():
    torch.manual_seed(9)
    g = torch.Generator().manual_seed(9)
    x = torch.randint(0, 2, (20, 64), generator=g).float() * 2 - 1
    noisy = x * torch.where(torch.rand(x.shape, generator=g) < 0.1, -1.0, 1.0)
    for separation in SEPARATIONS:
        layer = NativeHopfield(64, separation=separation, update_steps_max=3)
        with torch.no_grad():
            out = layer(noisy[None], x[None])[0]
        assert (out.sign() == x).all()
        trace = layer.energy_trace(noisy[None], x[None])
        assert trace.shape[1:] == (1, 20) and (trace[1:] <= trace[:-1] + 1e-4).all()
        torch.testing.assert_close(trace[0], layer.energy(noisy[None], x[None]))
    memory = NativeLayer(64, num_patterns=20, separation="sparsemax", beta=0.5).store(x)
    torch.testing.assert_close(memory(noisy), x, atol=1e-5, rtol=0)
    trace = memory.energy_trace(noisy, steps=2)
    assert trace.shape[0] in (2, 3) and trace.shape[1:] == (20,)
    pooling = NativePooling(8, num_queries=2, update_steps_max=2, separation="entmax15")
    assert pooling.energy_trace(torch.randn(3, 5, 8)).shape[1:] == (3, 2)

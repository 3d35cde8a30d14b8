"""harmonium.load on hostile files: every one ends in a clear ValueError, quickly.

Random bytes, truncated files, headers that claim huge tensors, tensors of the wrong
dtype or shape for the class, JSON values of the wrong type or missing, and deep
nesting. A mutated file may still be a valid model (a different but legal number, say);
then it must load as an object of its class. Anything else (another exception, a crash,
a hang, an allocation the file does not pay for) fails the test.
"""

import copy
import json
import shutil
import struct
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load as st_load
from safetensors.torch import save as st_bytes

import harmonium
from harmonium.units import Bernoulli, Gaussian

FAST = settings(max_examples=80, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLOW = settings(max_examples=1500, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _models() -> dict[str, object]:
    g = torch.Generator().manual_seed(0)
    spins = torch.tensor([[1.0, -1, 1, -1, 1], [1, 1, -1, -1, 1]])
    dbn = harmonium.DBN([4, 3, 3], n_labels=2)
    dbn.classifier = dbn.to_sequential()
    rec = harmonium.RBMRecommender(2, epochs=1, batch_size=5)
    rec.fit([0, 0, 1, 1, 2], [0, 1, 1, 2, 0], [1.0, 2, 3, 4, 5], generator=g, progress=False)
    return {
        "RBM": harmonium.RBM(Gaussian(3), Bernoulli(2), generator=g),
        "DBN": dbn,
        "BoltzmannMachine": harmonium.BoltzmannMachine(3, 2, generator=g),
        "HopfieldNetwork": harmonium.HopfieldNetwork(5, rule="pseudoinverse").store(spins),
        "DenseAssociativeMemory": harmonium.DenseAssociativeMemory(5).store(spins),
        "ModernHopfield": harmonium.ModernHopfield().store(torch.randn(3, 4, generator=g)),
        "RBMRecommender": rec,
        "DBM": harmonium.DBM([Bernoulli(4), Bernoulli(3), Bernoulli(2)], generator=g),
        "PottsModel": harmonium.PottsModel(3, 2),
    }


def _split(raw: bytes) -> tuple[dict, bytes]:
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def _join(header_json: str, data: bytes = b"") -> bytes:
    head = header_json.encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + data


_DIR = Path(tempfile.mkdtemp(prefix="harmonium-fuzz-"))
VALID = {}
for _name, _model in _models().items():
    harmonium.save(_model, _DIR / f"{_name}.safetensors")
    VALID[_name] = (_DIR / f"{_name}.safetensors").read_bytes()
NAMES = sorted(VALID)


@pytest.fixture(autouse=True, scope="module")
def _remove_files():
    yield
    shutil.rmtree(_DIR, ignore_errors=True)

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.sampled_from([10**12, -1, 0]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=6), inner, max_size=3),
                            st.builds(lambda k: {"__tensor__": k}, inner)),
    max_leaves=6)


def _paths(obj, path=()):
    yield path
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*path, i))


@st.composite
def wrong_json(draw):
    """A valid file whose harmonium JSON has one value replaced or deleted."""
    name = draw(st.sampled_from(NAMES))
    header, data = _split(VALID[name])
    meta = json.loads(header["__metadata__"]["harmonium"])
    path = draw(st.sampled_from(list(_paths(meta))[1:]))
    parent = meta
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    header["__metadata__"]["harmonium"] = json.dumps(meta)
    return name, _join(json.dumps(header), data)


DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int64,
          torch.int32, torch.uint8, torch.bool]


@st.composite
def wrong_tensor(draw):
    """A valid file with one tensor replaced by one of another dtype, shape or values."""
    name = draw(st.sampled_from(NAMES))
    header, _ = _split(VALID[name])
    tensors = dict(st_load(VALID[name]))
    key = draw(st.sampled_from(sorted(tensors)))
    shape = draw(st.one_of(st.just(tuple(tensors[key].shape)),
                           st.lists(st.integers(0, 6), max_size=3).map(tuple)))
    dtype = draw(st.sampled_from(DTYPES))
    fill = draw(st.sampled_from([0.0, 1.0, -3.0, float("nan"), float("inf")]))
    value = torch.full(shape, fill) if dtype.is_floating_point else torch.zeros(shape)
    tensors[key] = value.to(dtype)
    return name, st_bytes(tensors, metadata=header["__metadata__"])


@st.composite
def broken_container(draw):
    """Random bytes, a truncated file, or a header that lies about its tensors."""
    name = draw(st.sampled_from(NAMES))
    raw = VALID[name]
    kind = draw(st.sampled_from(["random", "truncated", "huge", "offsets", "length"]))
    if kind == "random":
        return draw(st.binary(max_size=512))
    if kind == "truncated":
        return raw[:draw(st.integers(0, len(raw) - 1))]
    if kind == "length":  # the 8-byte header length claims more than the file holds
        return struct.pack("<Q", draw(st.integers(len(raw), 2**64 - 1))) + raw[8:]
    header, data = _split(raw)
    key = draw(st.sampled_from(sorted(k for k in header if k != "__metadata__")))
    if kind == "huge":
        header[key]["shape"] = draw(st.sampled_from([[10**12], [2**32, 2**32], [2**62, 4]]))
    else:
        header[key]["data_offsets"] = [0, draw(st.sampled_from([10**12, 2**64 - 1, 1]))]
    return _join(json.dumps(header), data)


def _deep(depth: int, opener: str, closer: str) -> bytes:
    inner = ('{"format": "harmonium", "format_version": 1, "class": "dict", "state": '
             + opener * depth + closer * depth + "}")
    return _join(json.dumps({"__metadata__": {"harmonium": inner}}))


def _load(raw: bytes):
    path = _DIR / "hostile.safetensors"
    path.write_bytes(raw)
    return harmonium.load(path)


def _must_fail(raw: bytes) -> None:
    with pytest.raises(ValueError):
        _load(raw)


def _fails_or_loads(name: str, raw: bytes) -> None:
    try:
        obj = _load(raw)
    except ValueError as exc:
        assert str(exc)  # a message, not a bare ValueError
        return
    assert type(obj).__name__ == name  # a mutation that is still a legal model


@FAST
@given(broken_container())
def test_broken_containers_are_refused(raw):
    _must_fail(raw)


@FAST
@given(wrong_json())
def test_wrong_json_values_are_refused_or_legal(case):
    _fails_or_loads(*case)


@FAST
@given(wrong_tensor())
def test_wrong_tensors_are_refused_or_legal(case):
    _fails_or_loads(*case)


@pytest.mark.slow
@SLOW
@given(st.one_of(broken_container().map(lambda raw: ("", raw)), wrong_json(), wrong_tensor()))
def test_hostile_files_slow(case):
    name, raw = case
    if name:
        _fails_or_loads(name, raw)
    else:
        _must_fail(raw)


@pytest.mark.parametrize("depth", [100, 990, 10_000, 100_000])
@pytest.mark.parametrize("brackets", [("[", "]"), ('{"a": ', "}")])
def test_deep_nesting_is_refused(depth, brackets):
    with pytest.raises(ValueError):
        _load(_deep(depth, *brackets))
    outer = '{"__metadata__": {"harmonium": "{}"}, "x": ' + "[" * depth + "]" * depth + "}"
    with pytest.raises(ValueError, match="not a readable safetensors"):
        _load(_join(outer))


@pytest.mark.parametrize("name", NAMES)
def test_valid_files_still_load(name):
    assert type(_load(VALID[name])).__name__ == name


def test_wrong_dtype_and_shape_are_named(tmp_path):
    header, _ = _split(VALID["HopfieldNetwork"])
    tensors = dict(st_load(VALID["HopfieldNetwork"]))
    tensors["weight"] = tensors["weight"].to(torch.int64)
    with pytest.raises(ValueError, match=r"'weight' must be a tensor of dtype .*int64"):
        _load(st_bytes(tensors, metadata=header["__metadata__"]))
    tensors["weight"] = torch.zeros(4, 4)
    with pytest.raises(ValueError, match=r"shape \(5, 5\).*shape \(4, 4\)"):
        _load(st_bytes(tensors, metadata=header["__metadata__"]))


def test_wrong_json_types_are_named():
    header, data = _split(VALID["DBN"])
    meta = json.loads(header["__metadata__"]["harmonium"])
    for value, pattern in (("3", "'n_labels' must be int, got str"),
                           ([2], "'n_labels' must be int, got list")):
        bad = copy.deepcopy(meta)
        bad["state"]["n_labels"] = value
        header["__metadata__"]["harmonium"] = json.dumps(bad)
        with pytest.raises(ValueError, match=pattern):
            _load(_join(json.dumps(header), data))
    bad = copy.deepcopy(meta)
    del bad["state"]["rbms"]
    header["__metadata__"]["harmonium"] = json.dumps(bad)
    with pytest.raises(ValueError, match="incomplete: it has no 'rbms'"):
        _load(_join(json.dumps(header), data))


def test_huge_sizes_in_the_config_allocate_nothing():
    """A config naming 10**12 units fails on the tensors' shapes, before any allocation."""
    header, data = _split(VALID["BoltzmannMachine"])
    meta = json.loads(header["__metadata__"]["harmonium"])
    meta["state"]["n_visible"] = 10**12
    header["__metadata__"]["harmonium"] = json.dumps(meta)
    with pytest.raises(ValueError, match=r"'weight' must be .*shape \(1000000000002, "):
        _load(_join(json.dumps(header), data))

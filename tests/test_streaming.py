"""Streaming input: every trainer takes tensors, memmaps, .npy paths, Datasets, DataLoaders
and iterables of batches, with the same result; mid-epoch resume is exact."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

import harmonium
from harmonium.training.centering import Centered
from harmonium.training.data import Position, Stream, as_source, epoch_batches
from harmonium.units import Bernoulli

N, D = 97, 12  # 97 rows: the last batch of every epoch is short


@pytest.fixture(scope="module")
def binary():
    g = torch.Generator().manual_seed(3)
    return (torch.rand(N, D, generator=g) < 0.35).to(torch.uint8)


@pytest.fixture(scope="module")
def labels():
    return torch.arange(N) % 3


def _kinds(x: torch.Tensor, tmp_path) -> dict:
    """The same rows as each accepted kind of input."""
    path = tmp_path / "data.npy"
    np.save(path, x.numpy())
    return {
        "tensor": x.double(),
        "memmap": np.load(path, mmap_mode="r"),
        "npy path": str(path),
        "dataset": TensorDataset(x),
        "dataloader": DataLoader(TensorDataset(x), batch_size=10),
        "list of batches": [a.numpy() for a in x.split(13)],
        "stream": Stream(lambda: iter(x.split(7))),
    }


def _params(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def _rbm(seed=0):
    torch.manual_seed(seed)
    return harmonium.RBM(Bernoulli(D), Bernoulli(5)).double()


@pytest.mark.parametrize("method", [lambda: harmonium.CD(1), lambda: harmonium.PCD(8),
                                    lambda: Centered(harmonium.PCD(8))])
def test_fit_same_parameters_from_every_kind(binary, tmp_path, method):
    results = {}
    for kind, data in _kinds(binary, tmp_path).items():
        rbm = _rbm()
        harmonium.fit(rbm, data, method(), epochs=2, batch_size=10, progress=False,
                      generator=torch.Generator().manual_seed(5))
        results[kind] = _params(rbm)
    reference = results.pop("tensor")
    for kind, params in results.items():
        assert _same(params, reference), kind


def test_fit_greedy_and_fine_tune_from_every_kind(binary, labels, tmp_path):
    results = {}
    for kind, data in _kinds(binary, tmp_path).items():
        torch.manual_seed(0)
        dbn = harmonium.DBN([D, 6, 4]).double()
        g = torch.Generator().manual_seed(2)
        harmonium.fit_greedy(dbn, data, epochs=2, batch_size=10, generator=g,
                             progress=False, monitor=0)
        if kind in ("list of batches", "stream", "dataloader"):  # pairs from the stream
            pairs = Stream(lambda: zip(binary.split(9), labels.split(9), strict=True))
            harmonium.fine_tune(dbn, pairs, None, n_classes=3, epochs=2, batch_size=10,
                                generator=g, progress=False)
        else:
            harmonium.fine_tune(dbn, data, labels, epochs=2, batch_size=10, generator=g,
                                progress=False)
        results[kind] = _params(dbn.classifier) + [p for r in dbn.rbms for p in _params(r)]
    reference = results.pop("tensor")
    for kind, params in results.items():
        assert _same(params, reference), kind


def test_fit_boltzmann_from_every_kind(binary, tmp_path):
    results = {}
    for kind, data in _kinds(binary, tmp_path).items():
        bm = harmonium.BoltzmannMachine(D, generator=torch.Generator().manual_seed(0),
                                        dtype=torch.float64)
        harmonium.fit_boltzmann(bm, data, epochs=2, batch_size=10, n_chains=6,
                                generator=torch.Generator().manual_seed(1), progress=False)
        results[kind] = _params(bm)
    reference = results.pop("tensor")
    for kind, params in results.items():
        assert _same(params, reference), kind


def test_iterable_dataset_of_samples(binary):
    class Samples(IterableDataset):
        def __iter__(self):
            return iter(binary)

    a, b = _rbm(), _rbm()
    for rbm, data in ((a, binary), (b, Samples())):
        harmonium.fit(rbm, data, epochs=2, batch_size=10, progress=False,
                      generator=torch.Generator().manual_seed(4))
    assert _same(_params(a), _params(b))


def test_windows_keep_rows_and_are_permutations(binary):
    """A stream shuffles within windows: every window's batches are a permutation of
    its rows, in the stream's order of windows."""
    source = as_source(Stream(lambda: iter(torch.arange(N).split(11)), window=30),
                       lambda b: b)
    g = torch.Generator().manual_seed(0)
    rows = torch.cat([b for b, _ in epoch_batches(source, 10, g, Position())])
    assert sorted(rows.tolist()) == list(range(N))
    for start in range(0, N, 30):  # windows of 30 rows (three batches of 10)
        assert sorted(rows[start:start + 30].tolist()) == list(range(start, min(start + 30, N)))
    assert not torch.equal(rows, torch.arange(N))


class _Interrupt(Exception):
    pass


class _StopAfter:
    """A gradient transform that changes nothing and interrupts after ``n`` updates."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def init(self, model):
        return {}

    def update(self, model, state, batch):
        self.calls += 1
        if self.calls > self.n:
            raise _Interrupt
        return state


@pytest.mark.parametrize("kind", ["tensor", "stream"])
def test_mid_epoch_resume_is_exact(binary, tmp_path, kind):
    def data():
        if kind == "tensor":
            return binary
        return Stream(lambda: iter(binary.split(7)), window=40)

    def run(stop, resume=False):
        rbm = _rbm()
        harmonium.fit(rbm, data(), harmonium.PCD(8), epochs=3, batch_size=10,
                      progress=False, generator=torch.Generator().manual_seed(5),
                      transforms=[_StopAfter(stop)], checkpoint=tmp_path / f"{kind}.ckpt",
                      checkpoint_every=4, resume=resume)
        return rbm

    uninterrupted = _params(run(10**9))
    (tmp_path / f"{kind}.ckpt").unlink()
    with pytest.raises(_Interrupt):
        run(14)  # 10 updates per epoch: stops in epoch 2, last checkpoint after update 12
    resumed = run(10**9, resume=True)
    assert _same(_params(resumed), uninterrupted)


def test_stream_errors(binary):
    with pytest.raises(TypeError, match="one-shot iterator"):
        harmonium.fit(_rbm(), iter([binary]), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"\.npy"):
        harmonium.fit(_rbm(), "data.csv", epochs=1, progress=False)
    with pytest.raises(ValueError, match="window"):
        Stream([binary], window=0)
    with pytest.raises(ValueError, match="one length"):
        harmonium.fit(_rbm(), [(binary, binary[:3])], epochs=1, progress=False, monitor=0)
    bad = binary.double() * 2  # values outside [0, 1], found batch by batch
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        harmonium.fit(_rbm(), TensorDataset(bad), epochs=1, progress=False)


def test_fine_tune_stream_needs_pairs_and_classes(binary, labels):
    dbn = harmonium.DBN([D, 4]).double()
    with pytest.raises(ValueError, match="n_classes"):
        harmonium.fine_tune(dbn, [binary], None, progress=False)
    with pytest.raises(ValueError, match="carries its own labels"):
        harmonium.fine_tune(dbn, [binary], labels, progress=False)
    with pytest.raises(ValueError, match="pairs"):
        harmonium.fine_tune(dbn, [binary], None, n_classes=3, progress=False)


def test_cli_trains_from_a_npy_file_batch_by_batch(binary, tmp_path):
    """``rbm train x.npy`` reads the file per batch; same model as from the same rows
    in a .csv file (loaded whole)."""
    from harmonium.cli.main import main
    from harmonium.io import load

    np.save(tmp_path / "x.npy", binary.numpy())
    np.savetxt(tmp_path / "x.csv", binary.numpy(), delimiter=",", fmt="%d")
    for name in ("x.npy", "x.csv"):
        assert main(["rbm", "train", str(tmp_path / name), "-o", str(tmp_path / f"{name}.st"),
                     "--hidden", "4", "--epochs", "2", "--batch-size", "10", "-q"]) == 0
    streamed, loaded = load(tmp_path / "x.npy.st"), load(tmp_path / "x.csv.st")
    assert torch.equal(streamed.weight, loaded.weight)

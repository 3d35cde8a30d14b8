"""Loaders and conversions: bundled data, IDX/npz MNIST files, image <-> spin round trips."""

import gzip

import numpy as np
import pytest
import torch

from harmonium import datasets as ds


def write_idx(path, array, code=0x08, gz=False):
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    raw = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


@pytest.fixture
def tiny_mnist():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (5, 28, 28)).astype(np.uint8), np.arange(5).astype(np.uint8)


def test_binary_spin_round_trip():
    x = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    s = ds.binary_to_spin(x)
    assert torch.equal(s, torch.tensor([[-1.0, 1.0, 1.0], [1.0, -1.0, -1.0]]))
    assert torch.equal(ds.spin_to_binary(s), x)
    with pytest.raises(ValueError, match="0 and 1"):
        ds.binary_to_spin([[0.0, 2.0]])
    with pytest.raises(ValueError, match="-1 and \\+1"):
        ds.spin_to_binary([[0.0, 1.0]])


def test_images_to_spins_and_back():
    images = np.random.default_rng(0).random((3, 10, 12))
    spins = ds.images_to_spins(images)
    assert spins.shape == (3, 120) and spins.dtype == torch.float32
    assert (spins.sum(1) == 0).all()  # median threshold: half +1, half -1
    back = ds.spins_to_images(spins, (10, 12))
    assert np.array_equal(back > 0.5, images > np.median(images.reshape(3, -1), 1)[:, None, None])
    assert ds.images_to_spins(images, size=5).shape == (3, 25)
    fixed = ds.images_to_spins(images[0], threshold=0.5)
    assert torch.equal(fixed[0] > 0, torch.from_numpy(images[0].ravel() > 0.5))
    for t in ("mean", "otsu"):
        assert ds.images_to_spins(images, threshold=t).shape == (3, 120)


@pytest.mark.parametrize("bad", ["bright", float("nan"), None])
def test_images_to_spins_bad_threshold(bad):
    with pytest.raises(ValueError, match="threshold"):
        ds.images_to_spins(np.zeros((1, 4, 4)), threshold=bad)


def test_image_input_errors():
    with pytest.raises(ValueError, match="shape"):
        ds.images_to_spins(np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        ds.images_to_spins(np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="16 features"):
        ds.spins_to_images(torch.ones(1, 15), (4, 4))


def test_bundled_images():
    camera = ds.load_image("camera")
    assert camera.shape == (512, 512) and 0 <= camera.min() and camera.max() <= 1
    stack = ds.load_images(["astronaut", "horse", "coins"], size=(16, 20))
    assert stack.shape == (3, 16, 20)
    with pytest.raises(ValueError, match="unknown image"):
        ds.load_image("lena")
    with pytest.raises(ValueError, match="empty"):
        ds.load_images([])


def test_faces_and_digits():
    faces, is_face = ds.load_faces()
    assert faces.shape == (200, 25, 25) and is_face.sum() == 100
    x, y = ds.load_digits()
    assert x.shape == (1797, 64) and x.max() == 1.0 and set(y.tolist()) == set(range(10))


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_from_idx_files(tmp_path, tiny_mnist, gz):
    images, labels = tiny_mnist
    suffix = ".gz" if gz else ""
    write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", images, gz=gz)
    write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", labels, gz=gz)
    x, y = ds.load_mnist(tmp_path, split="test")
    assert np.array_equal(x, images) and np.array_equal(y, labels) and y.dtype == np.int64
    with pytest.raises(FileNotFoundError, match="train-images"):
        ds.load_mnist(tmp_path)


def test_read_idx_other_dtypes_and_damage(tmp_path):
    values = np.arange(6, dtype=np.int32).reshape(2, 3) - 3
    write_idx(tmp_path / "a.idx", values, code=0x0C)
    assert np.array_equal(ds.read_idx(tmp_path / "a.idx"), values)
    (tmp_path / "bad").write_bytes(b"PK\x03\x04junk")
    with pytest.raises(ValueError, match="magic"):
        ds.read_idx(tmp_path / "bad")
    raw = (tmp_path / "a.idx").read_bytes()
    (tmp_path / "short").write_bytes(raw[:-3])
    with pytest.raises(ValueError, match="expected"):
        ds.read_idx(tmp_path / "short")
    (tmp_path / "head").write_bytes(raw[:6])
    with pytest.raises(ValueError, match="truncated"):
        ds.read_idx(tmp_path / "head")
    (tmp_path / "badgz").write_bytes(gzip.compress(raw)[:-8])
    with pytest.raises(ValueError, match="gzip"):
        ds.read_idx(tmp_path / "badgz")


def test_load_mnist_from_npz(tmp_path, tiny_mnist):
    images, labels = tiny_mnist
    np.savez(tmp_path / "mnist.npz", x_train=images, y_train=labels, x_test=images[:2],
             y_test=labels[:2])
    x, y = ds.load_mnist(tmp_path / "mnist.npz")
    assert np.array_equal(x, images) and np.array_equal(y, labels)
    assert ds.load_mnist(tmp_path / "mnist.npz", "test")[0].shape == (2, 28, 28)
    np.savez(tmp_path / "other.npz", a=images)
    with pytest.raises(ValueError, match="x_train"):
        ds.load_mnist(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="npz"):
        ds.load_mnist(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError):
        ds.load_mnist(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="split"):
        ds.load_mnist(tmp_path / "mnist.npz", split="valid")


def test_image_files_round_trip(tmp_path):
    image = np.random.default_rng(0).random((9, 7))
    ds.write_image(tmp_path / "a.png", image)
    back = ds.read_image(tmp_path / "a.png")
    assert back.shape == (9, 7) and np.abs(back - image).max() <= 0.5 / 255 + 1e-9
    (tmp_path / "b.png").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot read"):
        ds.read_image(tmp_path / "b.png")
    with pytest.raises(FileNotFoundError):
        ds.read_image(tmp_path / "none.png")
    with pytest.raises(ValueError, match="finite"):
        ds.write_image(tmp_path / "c.png", np.zeros(3))


def test_the_package_keeps_every_name_of_the_old_module():
    old = ["HALVES", "IMAGE_NAMES", "RatingsData", "binary_to_spin", "half_mask",
           "images_to_spins", "load_array", "load_digits", "load_faces", "load_image",
           "load_images", "load_mnist", "load_movielens", "load_ratings_csv", "load_titles",
           "read_idx", "read_image", "resize_images", "spin_to_binary", "spins_to_images",
           "write_image"]
    assert set(old) <= set(ds.__all__)
    for name in old:
        assert getattr(ds, name) is not None

"""harmonium.save / harmonium.load: round trips and every kind of bad file."""

import json
import os

import pytest
import torch
from safetensors.torch import save as st_bytes
from safetensors.torch import save_file

import harmonium
from harmonium import io
from harmonium.models.hopfield import HopfieldNetwork, random_patterns


def test_round_trip_model_and_dict(tmp_path):
    net = HopfieldNetwork(30, rule="storkey").store(random_patterns(4, 30))
    path = harmonium.save(net, tmp_path / "m.safetensors")
    back = harmonium.load(path)
    assert torch.equal(back.weight, net.weight) and torch.equal(back.bias, net.bias)
    state = {"epoch": 3, "w": torch.arange(6.0).reshape(2, 3), "nested": {"lr": 0.1,
                                                                          "xs": [torch.ones(2)]}}
    harmonium.save(state, tmp_path / "c.safetensors")
    loaded = harmonium.load(tmp_path / "c.safetensors")
    assert loaded["epoch"] == 3 and torch.equal(loaded["w"], state["w"])
    assert loaded["nested"]["lr"] == 0.1 and torch.equal(loaded["nested"]["xs"][0], torch.ones(2))


def test_atomic_write_leaves_no_temporary_files(tmp_path, monkeypatch):
    net = HopfieldNetwork(10).store(random_patterns(2, 10))
    target = tmp_path / "m.safetensors"
    harmonium.save(net, target)
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]
    before = target.read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(io.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        harmonium.save(HopfieldNetwork(10), target)
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]  # temp file removed
    assert target.read_bytes() == before  # previous file intact


def test_truncated_file(tmp_path):
    harmonium.save(HopfieldNetwork(20).store(random_patterns(2, 20)), tmp_path / "m.st")
    raw = (tmp_path / "m.st").read_bytes()
    (tmp_path / "t.st").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="not a readable safetensors"):
        harmonium.load(tmp_path / "t.st")


def test_random_bytes(tmp_path):
    (tmp_path / "r.st").write_bytes(os.urandom(300))
    with pytest.raises(ValueError, match="not a readable safetensors"):
        harmonium.load(tmp_path / "r.st")


def test_foreign_safetensors_file(tmp_path):
    save_file({"w": torch.ones(3)}, tmp_path / "f.st")
    with pytest.raises(ValueError, match="not a harmonium model file"):
        harmonium.load(tmp_path / "f.st")


def header_file(path, **changes):
    header = {"format": "harmonium", "format_version": io.FORMAT_VERSION, "class": "dict",
              "state": {"a": 1}}
    header.update(changes)
    path.write_bytes(st_bytes({"x": torch.ones(1)}, metadata={"harmonium": json.dumps(header)}))
    return path


def test_newer_format_version(tmp_path):
    with pytest.raises(ValueError, match=r"format version 99.*upgrade"):
        harmonium.load(header_file(tmp_path / "n.st", format_version=99))


def test_unknown_class_and_missing_tensor(tmp_path):
    with pytest.raises(ValueError, match="unknown class"):
        harmonium.load(header_file(tmp_path / "u.st", **{"class": "os.system"}))
    with pytest.raises(ValueError, match="missing"):
        harmonium.load(header_file(tmp_path / "m.st", state={"w": {"__tensor__": "nope"}}))
    with pytest.raises(ValueError, match="incomplete"):
        harmonium.load(header_file(tmp_path / "i.st", **{"class": "HopfieldNetwork"}))


def test_missing_file_and_unsavable_objects(tmp_path):
    with pytest.raises(FileNotFoundError):
        harmonium.load(tmp_path / "nothing.st")
    with pytest.raises(TypeError, match="cannot save"):
        harmonium.save(object(), tmp_path / "o.st")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        harmonium.save({"a": 1}, tmp_path / "no" / "dir.st")

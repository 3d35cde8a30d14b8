"""``harmonium potts ...`` end to end on temporary files: plant -> sample -> fit ->
contacts, the planted contacts found at the top, and bad inputs as one error line."""

import numpy as np
import pytest

from harmonium.cli import main as cli_main
from harmonium.io import load
from harmonium.models._potts_alignment import read_fasta


@pytest.fixture
def run(monkeypatch, capsys):
    """``main`` with the ``potts`` group registered; returns (exit code, stdout, stderr)."""
    if "potts" not in cli_main._COMMANDS:
        monkeypatch.setattr(cli_main, "_COMMANDS", [*cli_main._COMMANDS, "potts"])

    def call(*argv):
        code = cli_main.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return call


def test_plant_sample_fit_and_the_planted_contacts_come_first(tmp_path, run):
    truth, aln, model = (tmp_path / n for n in ("truth.safetensors", "aln.fasta",
                                                 "model.safetensors"))
    code, out, _ = run("potts", "plant", "-o", truth, "--sites", "8", "--states", "21",
                       "--contacts", "3", "--strength", "1.5", "--seed", "1")
    assert code == 0 and "planted 3 contacts" in out
    code, out, _ = run("potts", "sample", truth, "-o", aln, "-n", "600", "--sweeps", "20")
    assert code == 0 and "wrote 600 sequences of 8 sites" in out
    _, seqs = read_fasta(aln)
    assert len(seqs) == 600 and {len(s) for s in seqs} == {8}
    code, out, _ = run("potts", "fit", aln, "-o", model, "--epochs", "2", "-q")
    assert code == 0 and "fitted 8 sites x 21 states on 600 sequences" in out
    fitted = load(model)
    assert fitted.alphabet == load(truth).alphabet
    assert float(fitted.fields.detach().sum(-1).abs().max()) < 1e-4  # the zero-sum gauge
    code, out, _ = run("potts", "contacts", model, "--top", "3", "--truth", truth)
    assert code == 0
    assert "precision of the top 3: 1.000 (3 true contacts)" in out
    rows = [line.split("\t") for line in out.splitlines()[1:4]]
    assert all(1 <= int(i) < int(j) <= 8 for i, j, _ in rows)
    scores = [float(s) for _, _, s in rows]
    assert scores == sorted(scores, reverse=True)


def test_fit_reads_npy_alignments_and_sample_writes_them(tmp_path, run):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "aln.npy", rng.integers(0, 3, (50, 5)))
    model = tmp_path / "m.safetensors"
    code, out, _ = run("potts", "fit", tmp_path / "aln.npy", "-o", model, "--epochs", "1",
                       "-q")
    assert code == 0 and "5 sites x 3 states on 50 sequences" in out
    assert run("potts", "sample", model, "-o", tmp_path / "s.npy", "-n", "7")[0] == 0
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (7, 5) and x.min() >= 0 and x.max() < 3
    code, _, err = run("potts", "sample", model, "-o", tmp_path / "s.fasta")
    assert code == 2 and "no alphabet" in err


@pytest.mark.parametrize(("content", "argv", "message"), [
    (">s1\nAC1\n", ["fit", "{f}", "-o", "{o}"], "not in the alphabet"),
    (">s1\nACD\n>s2\nAC\n", ["fit", "{f}", "-o", "{o}"], "one length"),
    ("ACD\n", ["fit", "{f}", "-o", "{o}"], "before the first"),
    (">s1\nACD\n", ["fit", "{f}", "-o", "{o}", "--states", "4"], "--states"),
    (">s1\nACD\n", ["contacts", "{f}"], "harmonium"),
])
def test_bad_inputs_are_one_error_line(tmp_path, run, content, argv, message):
    path = tmp_path / "in.fasta"
    path.write_text(content)
    argv = [a.format(f=path, o=tmp_path / "m.safetensors") for a in argv]
    code, _, err = run("potts", *argv)
    assert code == 2 and len(err.splitlines()) == 1 and message in err


def test_contacts_refuses_other_models_and_far_separations(tmp_path, run):
    from harmonium import RBM, save
    from harmonium.units import Bernoulli

    save(RBM(Bernoulli(3), Bernoulli(2)), tmp_path / "rbm.safetensors")
    code, _, err = run("potts", "contacts", tmp_path / "rbm.safetensors")
    assert code == 2 and "not a Potts model" in err
    truth = tmp_path / "t.safetensors"
    assert run("potts", "plant", "-o", truth, "--sites", "4", "--states", "3",
               "--contacts", "2")[0] == 0
    code, _, err = run("potts", "contacts", truth, "--min-separation", "5")
    assert code == 2 and "no pair" in err

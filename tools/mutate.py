"""Mutation testing by hand: do the fast tests notice a wrong sign, a dropped term?

Each mutation is one exact source edit (file, original snippet, replacement). The script
copies ``src/``, ``tests/`` and ``pyproject.toml`` into a temporary directory once,
checks that the unmutated copy passes, then for each mutation edits the copy (the
snippet must occur exactly once), runs the relevant fast tests against the copy
(``PYTHONPATH`` points at the copy's ``src``, which wins over the editable install),
and restores the file. The working tree is never modified, so it is safe while others
edit it.

A mutation is *caught* when pytest fails, *survives* when the tests pass and *times
out* past ``--timeout``. Survivors are missing tests (or equivalent mutants: say so).

Usage::

    OMP_NUM_THREADS=1 python tools/mutate.py                 # all, report to stdout
    python tools/mutate.py --only ais- --report tools/mutation_report.md
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

UNITS_TESTS = ("tests/test_units.py", "tests/test_rbm.py", "tests/test_gradient_fast_path.py",
               "tests/test_ais.py", "tests/test_pseudo.py")
AIS_TESTS = ("tests/test_ais.py",)
GRAD_TESTS = ("tests/test_gradient_fast_path.py", "tests/test_training.py")
PSEUDO_TESTS = ("tests/test_pseudo.py",)
RBM_TESTS = ("tests/test_rbm.py", "tests/test_ais.py", "tests/test_gradient_fast_path.py")


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    original: str
    replacement: str
    tests: tuple[str, ...]
    why: str


M = Mutation
AIS = "src/harmonium/partition/ais.py"
GRAD = "src/harmonium/training/gradient.py"
PSEUDO = "src/harmonium/partition/pseudo.py"
RBM = "src/harmonium/models/rbm.py"
U = "src/harmonium/units/"

MUTATIONS = [
    # ----- AIS: the known survivors first ---------------------------------------------
    M("ais-drop-base-term", AIS,
      "return (beta_b - beta_a) * e_diff + cgf_b - cgf_a",
      "return cgf_b - cgf_a",
      AIS_TESTS, "drop the base-versus-model visible energy term of the weights"),
    M("ais-bernoulli-hidden-log-z0", AIS,
      "self.log_z_base = (self.base64.cgf(zero_v) + hid0.cgf(zero_h)).item()",
      "self.log_z_base = self.base64.cgf(zero_v).item() + hid0.params[0].numel() * math.log(2)",
      AIS_TESTS, "log Z_0 assumes free Bernoulli hidden units (n_h log 2)"),
    M("ais-std-err-times-3", AIS,
      "rel = (w.std() / (w.mean() * math.sqrt(w.numel()))).item()",
      "rel = 3 * (w.std() / (w.mean() * math.sqrt(w.numel()))).item()",
      AIS_TESTS, "report three times the standard error"),
    M("ais-log-z0-of-model-visible", AIS,
      "(self.base64.cgf(zero_v) + hid0.cgf(zero_h))",
      "(self.model64.cgf(zero_v) + hid0.cgf(zero_h))",
      AIS_TESTS, "log Z_0 from the model's visible biases instead of the base"),
    M("ais-start-chains-at-model-visible", AIS,
      'return self._set(self.vis, "vis", 0.0).sample_from_inputs(zeros, generator=generator)',
      'return self._set(self.vis, "vis", 1.0).sample_from_inputs(zeros, generator=generator)',
      AIS_TESTS, "initial chains drawn from the model's visible biases, not the base"),
    M("ais-hidden-sample-wrong-temperature", AIS,
      'h = self._set(self.hid, "hid", beta).sample_from_inputs(beta * field, generator=generator)',
      'h = self._set(self.hid, "hid", beta).sample_from_inputs(field, generator=generator)',
      AIS_TESTS, "Gibbs sweep samples h at beta = 1 whatever beta"),
    M("ais-cgf-at-previous-beta", AIS,
      'cgf_b = self._set(self.hid64[1], "hid64", beta_b).cgf(beta_b * f64)',
      'cgf_b = self._set(self.hid64[1], "hid64", beta_b).cgf(beta_a * f64)',
      AIS_TESTS, "F_b evaluated with the field scaled by beta_a"),
    M("ais-reverse-sign", AIS,
      "log_z = path.log_z_base - lme if reverse else path.log_z_base + lme",
      "log_z = path.log_z_base + lme if reverse else path.log_z_base + lme",
      AIS_TESTS, "reverse AIS adds log mean w instead of subtracting it"),
    # ----- unit types ----------------------------------------------------------------
    M("spin-sample-temperature", U + "spin.py",
      "return torch.sigmoid(2.0 * field)",
      "return torch.sigmoid(field)",
      UNITS_TESTS, "spin sampling at half the field (p(+1) = sigmoid(I) not sigmoid(2I))"),
    M("spin-cgf-log-cosh", U + "spin.py",
      "return log_2cosh(self._field(inputs)).sum(1)",
      "return (log_2cosh(self._field(inputs)) - 0.6931471805599453).sum(1)",
      UNITS_TESTS, "spin cgf log cosh instead of log 2cosh (normaliser only)"),
    M("bernoulli-var", U + "bernoulli.py",
      "return p * (1 - p)",
      "return p * (1 - p) * 2",
      UNITS_TESTS, "Bernoulli conditional variance doubled"),
    M("gaussian-cgf-normaliser", U + "gaussian.py",
      "0.5 * torch.log(2 * math.pi / gamma)",
      "0.5 * torch.log(2 * math.pi * gamma)",
      UNITS_TESTS, "Gaussian cgf normaliser log(2 pi gamma) instead of log(2 pi / gamma)"),
    M("gaussian-energy-factor", U + "gaussian.py",
      "(0.5 * self.precision * x.square() - self.bias * x)",
      "(self.precision * x.square() - self.bias * x)",
      UNITS_TESTS, "Gaussian energy gamma x^2 instead of gamma x^2 / 2"),
    M("gaussian-sample-std", U + "gaussian.py",
      "return mean + noise * self.precision.rsqrt()",
      "return mean + noise * self.precision.sqrt()",
      UNITS_TESTS, "Gaussian noise with std sqrt(gamma) instead of 1 / sqrt(gamma)"),
    M("gaussian-fit-independent-mean", U + "gaussian.py",
      "torch.stack([x.mean(0) / var, 1.0 / var])",
      "torch.stack([x.mean(0), 1.0 / var])",
      UNITS_TESTS, "fitted base bias is the mean, not mean * precision"),
    M("categorical-fit-smoothing", U + "categorical.py",
      "(x.shape[0] + self.n_categories * SMOOTHING)",
      "(x.shape[0] + 2 * SMOOTHING)",
      UNITS_TESTS, "categorical base frequencies normalised as if k = 2 (EQUIVALENT: "
      "log-frequencies shift by a constant per unit; softmax, cgf differences and the "
      "AIS path are unchanged)"),
    M("categorical-fit-pseudo-count", U + "categorical.py",
      "freq = (x.sum(0) + SMOOTHING)",
      "freq = (x.sum(0) + 2 * SMOOTHING)",
      UNITS_TESTS, "categorical base frequencies with pseudo-count 1 in the numerator"),
    M("categorical-flip-energy-sign", U + "categorical.py",
      "return others, -(others * self.bias.detach()[:, None, :]).sum(-1)",
      "return others, (others * self.bias.detach()[:, None, :]).sum(-1)",
      UNITS_TESTS, "categorical flip energy change with the wrong sign"),
    M("binary-flip-energy-sign", U + "_binary.py",
      "return d_states, -d_states[..., 0] * self.bias.detach()[:, None]",
      "return d_states, d_states[..., 0] * self.bias.detach()[:, None]",
      UNITS_TESTS, "two-state flip energy change with the wrong sign"),
    M("binary-fit-smoothing", U + "_binary.py",
      "(x.shape[0] + 2 * _SMOOTHING)",
      "(x.shape[0] + _SMOOTHING)",
      UNITS_TESTS, "two-state base frequency smoothed with one pseudo-count"),
    M("bias-only-cgf-grad-sign", U + "base.py",
      "flat = out.view(-1).addmv_(m.flatten(1).T, c, beta=0.0)  # set",
      "flat = out.view(-1).addmv_(m.flatten(1).T, c, beta=0.0, alpha=-1.0)  # set",
      UNITS_TESTS, "hidden bias gradient of the data term with the wrong sign"),
    # ----- pseudo-likelihood ---------------------------------------------------------
    M("pseudo-energy-sign", PSEUDO,
      "log_ratio = cgf - cgf0[:, None, None] - d_energy[:, s : s + s_chunk]",
      "log_ratio = cgf - cgf0[:, None, None] + d_energy[:, s : s + s_chunk]",
      PSEUDO_TESTS, "flip energy change added instead of subtracted"),
    M("pseudo-drop-softplus", PSEUDO,
      "total -= softplus(torch.logsumexp(log_ratio, -1)).sum(1)",
      "total -= torch.logsumexp(log_ratio, -1).sum(1)",
      PSEUDO_TESTS, "log p(v_i | v_-i) without the current state's term"),
    # ----- the fast gradient ---------------------------------------------------------
    M("grad-model-scale", GRAD,
      "grad.addmm_(flat_model.T, mean_model.flatten(1), alpha=1.0 / n_model)",
      "grad.addmm_(flat_model.T, mean_model.flatten(1), alpha=1.0 / n_data)",
      GRAD_TESTS, "model term of dW divided by the data batch size"),
    M("grad-accumulate", GRAD,
      "grad.addmm_(flat_data.T, mean_data.flatten(1), beta=0, alpha=-1.0 / n_data)",
      "grad.addmm_(flat_data.T, mean_data.flatten(1), alpha=-1.0 / n_data)",
      GRAD_TESTS, "dW accumulated into the old .grad instead of overwriting it"),
    M("grad-bias-weights", GRAD,
      "torch.full((n_model,), -1.0 / n_model, dtype=dtype, device=device)",
      "torch.full((n_model,), -1.0 / n_data, dtype=dtype, device=device)",
      GRAD_TESTS, "layer gradients' model mean divided by the data batch size"),
    # ----- the RBM --------------------------------------------------------------------
    M("rbm-free-energy-hidden-sign", RBM,
      "return self.hidden.energy(h) - self.visible.cgf(self.inputs_v_from_h(h))",
      "return self.hidden.energy(h) + self.visible.cgf(self.inputs_v_from_h(h))",
      RBM_TESTS, "free energy of hidden states adds the visible cgf"),
    M("rbm-interaction-sign", RBM,
      "return -(self.inputs_h_from_v(v).flatten(1) * h.flatten(1)).sum(1)",
      "return (self.inputs_h_from_v(v).flatten(1) * h.flatten(1)).sum(1)",
      RBM_TESTS, "joint energy +v W h instead of -v W h"),
]


def _copy_tree(dest: Path) -> None:
    for name in ("src", "tests"):
        shutil.copytree(ROOT / name, dest / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")


def _pytest(copy: Path, tests, timeout: float, k: str = "") -> tuple[str, str]:
    """Run the fast tests in the copy; ('passed' | 'failed' | 'timeout', first failure)."""
    env = dict(os.environ, PYTHONPATH=str(copy / "src"), OMP_NUM_THREADS="1",
               PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-m", "not slow",
           "-p", "no:cacheprovider", *(["-k", k] if k else []), *tests]
    try:
        out = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", ""
    text = out.stdout + out.stderr
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", text, flags=re.M)
    status = "passed" if out.returncode == 0 else "failed"
    if out.returncode not in (0, 1):  # collection errors, crashes: caught, but say so
        failed = failed or [f"pytest exit code {out.returncode}"]
    return status, failed[0] if failed else ""


def _mutate(copy: Path, m: Mutation, timeout: float, k: str = "",
            tests=None) -> tuple[str, str]:
    target = copy / m.path
    source = target.read_text()
    count = source.count(m.original)
    if count != 1:
        return "invalid", f"original snippet found {count} times"
    try:
        target.write_text(source.replace(m.original, m.replacement))
        status, where = _pytest(copy, tests or m.tests, timeout, k)
    finally:
        target.write_text(source)  # restore the copy for the next mutation
    return {"failed": "caught", "passed": "SURVIVED"}.get(status, status), where


def _report(rows, baseline_s: float, selection: str) -> str:
    caught = sum(r[1] == "caught" for r in rows)
    lines = [
        f"## Tests: {selection}",
        "",
        f"**{caught} of {len(rows)} caught**; baseline (unmutated copy) passed in "
        f"{baseline_s:.0f} s.",
        "",
        "| mutation | file | what it breaks | result | first failing test | s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for m, status, where, secs in rows:
        short = m.path.removeprefix("src/harmonium/")
        lines.append(f"| `{m.name}` | `{short}` | {m.why} | {status} | "
                     f"{'`' + where + '`' if where else ''} | {secs:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="",
                        help="comma-separated name prefixes to run (default: all)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    parser.add_argument("--report", type=Path, help="append the markdown report here")
    parser.add_argument("-k", dest="k", default="", help="pytest -k expression for every run")
    parser.add_argument("--tests", nargs="+", help="test files for every run (default: each "
                        "mutation's own list)")
    args = parser.parse_args(argv)
    prefixes = tuple(args.only.split(","))
    chosen = [m for m in MUTATIONS if m.name.startswith(prefixes)]
    with tempfile.TemporaryDirectory(prefix="harmonium-mutate-") as tmp:
        copy = Path(tmp)
        _copy_tree(copy)
        files = args.tests or sorted({t for m in chosen for t in m.tests})
        start = time.perf_counter()
        status, where = _pytest(copy, files, args.timeout * 2, args.k)
        baseline_s = time.perf_counter() - start
        if status != "passed":
            print(f"baseline does not pass ({status}: {where}); fix that first", file=sys.stderr)
            return 2
        rows = []
        for m in chosen:
            start = time.perf_counter()
            status, where = _mutate(copy, m, args.timeout, args.k, args.tests)
            rows.append((m, status, where, time.perf_counter() - start))
            print(f"{m.name:40s} {status:8s} {where}", flush=True)
    selection = " ".join(args.tests) if args.tests else "each mutation's own files"
    report = _report(rows, baseline_s, selection + (f", `-k \"{args.k}\"`" if args.k else ""))
    if args.report:
        with args.report.open("a") as f:
            f.write(report + "\n")
    else:
        print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

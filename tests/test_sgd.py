"""MomentumSGD, fit's default optimiser, against torch.optim.SGD's recurrence."""

import copy
import subprocess
import sys

import pytest
import torch

import harmonium
from harmonium import PCD
from harmonium.training.sgd import MomentumSGD
from harmonium.units import Bernoulli
from random_models import random_rbm


def _params(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(4, 3, generator=g, dtype=torch.float64).requires_grad_(True),
            torch.randn(5, generator=g, dtype=torch.float64).requires_grad_(True)]


def _run(opt_cls, steps, momentum, state=None, seed=0):
    params = _params(seed)
    opt = opt_cls(params, lr=0.1, momentum=momentum)
    if state is not None:
        opt.load_state_dict(copy.deepcopy(state))  # loading shares the buffers
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g, dtype=p.dtype)
        opt.step()
    return params, opt


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_same_recurrence_as_torch_sgd(momentum):
    ours, _ = _run(MomentumSGD, 5, momentum)
    torch_sgd, _ = _run(lambda p, **kw: torch.optim.SGD(p, foreach=False, **kw), 5, momentum)
    for a, b in zip(ours, torch_sgd, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-14)


def test_resumes_from_torch_sgd_state_and_skips_missing_gradients():
    _, opt = _run(lambda p, **kw: torch.optim.SGD(p, foreach=False, **kw), 3, 0.5)
    state = opt.state_dict()
    ours, _ = _run(MomentumSGD, 2, 0.5, state=state)
    theirs, _ = _run(lambda p, **kw: torch.optim.SGD(p, foreach=False, **kw), 2, 0.5, state=state)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-14)
    p = torch.zeros(3, requires_grad=True)
    MomentumSGD([p], lr=1.0, momentum=0.5).step()  # no gradient: left alone
    assert torch.equal(p, torch.zeros(3))


def test_closure_is_evaluated_with_gradients_enabled():
    p = torch.tensor([3.0], requires_grad=True)
    opt = MomentumSGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 9.0
    torch.testing.assert_close(p.detach(), torch.tensor([1.5]))  # 3 - 0.25 * 6


def test_fit_default_optimizer_follows_torch_sgd():
    def train(**kwargs):
        rbm = random_rbm(Bernoulli(6), Bernoulli(4), seed=3)
        data = (torch.rand(30, 6, generator=torch.Generator().manual_seed(2)) < 0.4).double()
        harmonium.fit(rbm, data, PCD(10), epochs=3, batch_size=10, momentum=0.7,
                      generator=torch.Generator().manual_seed(8), progress=False, monitor=0,
                      **kwargs)
        return list(rbm.parameters())

    torch_sgd = train(optimizer=lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.7))
    for a, b in zip(train(lr=0.05), torch_sgd, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_param_groups_are_checked_as_torch_does():
    p = torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match="appear in more than one"):
        MomentumSGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    opt = MomentumSGD([p], lr=0.1, momentum=0.9)
    assert opt.param_groups[0]["momentum"] == 0.9 and opt.param_groups[0]["lr"] == 0.1


def test_fit_does_not_import_torch_dynamo():
    # torch's own add_param_group imports torch._dynamo on first use (over a second,
    # once per process); a small fit must not pay that. A fresh interpreter, since
    # other tests may have imported it here.
    code = (
        "import sys, torch, harmonium\n"
        "from harmonium.units import Bernoulli\n"
        "rbm = harmonium.RBM(Bernoulli(6), Bernoulli(3))\n"
        "harmonium.fit(rbm, torch.rand(20, 6), harmonium.PCD(5), epochs=2, batch_size=5,\n"
        "              progress=False)\n"
        "assert 'torch._dynamo' not in sys.modules, 'torch._dynamo was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)

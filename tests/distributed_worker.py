"""Run by tests/test_distributed.py under ``torchrun --nproc-per-node 2`` (gloo).

Each case trains or estimates on 2 ranks and rank 0 writes the result to the output
folder; the test compares it with the same call in one process.
"""

import os
import sys

import torch
from safetensors.torch import save_file

import harmonium
from harmonium import parallel
from harmonium.partition import ais
from harmonium.training.centering import Centered
from harmonium.units import Bernoulli

N, D, H, BATCH = 137, 12, 5, 14  # 10 updates per epoch, the last of 11 rows

METHODS = {
    "cd": lambda: harmonium.CD(1),
    "pcd": lambda: harmonium.PCD(10),
    "centered": lambda: Centered(harmonium.PCD(10)),
}


def data() -> torch.Tensor:
    g = torch.Generator().manual_seed(11)
    return (torch.rand(N, D, generator=g) < 0.3).double()


def labels() -> torch.Tensor:
    return torch.arange(N) % 3


def rbm() -> harmonium.RBM:
    return harmonium.RBM(Bernoulli(D), Bernoulli(H),
                         generator=torch.Generator().manual_seed(0)).double()


def train(method: str, epochs: int, **kwargs) -> harmonium.RBM:
    model = rbm()
    harmonium.fit(model, data(), METHODS[method](), epochs=epochs, batch_size=BATCH,
                  momentum=0.5, progress=False, generator=torch.Generator().manual_seed(7),
                  **kwargs)
    return model


def fine_tuned() -> dict:
    dbn = harmonium.DBN([D, 6], generator=torch.Generator().manual_seed(1)).double()
    harmonium.fine_tune(dbn, data(), labels(), epochs=2, batch_size=BATCH, progress=False,
                        generator=torch.Generator().manual_seed(2))
    return {k: v.contiguous() for k, v in dbn.classifier.state_dict().items()}


def log_weights() -> torch.Tensor:
    model = train("cd", 1)
    return ais(model, n_chains=9, betas=torch.linspace(0, 1, 40).tolist(), progress=False,
               generator=torch.Generator().manual_seed(3), chunk=4).log_weights


def main(out: str, checkpoint_ws1: str) -> None:
    assert parallel.init_from_env(), "run me under torchrun --nproc-per-node 2"
    results = {}
    for name in METHODS:
        results.update({f"{name}.{k}": v for k, v in train(name, 2).state_dict().items()})
    train("pcd", 1, checkpoint=os.path.join(out, "pcd_ws2.ckpt"))  # read by one process
    resumed = train("pcd", 2, checkpoint=checkpoint_ws1, resume=True)
    results.update({f"resumed.{k}": v for k, v in resumed.state_dict().items()})
    results.update({f"finetune.{k}": v for k, v in fine_tuned().items()})
    results["ais.log_weights"] = log_weights()
    if parallel.is_main():
        save_file({k: v.contiguous() for k, v in results.items()},
                  os.path.join(out, "ws2.safetensors"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

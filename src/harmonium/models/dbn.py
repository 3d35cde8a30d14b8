"""Deep belief nets (Hinton, Osindero and Teh 2006): a stack of RBMs.

``DBN([784, 500, 500, 2000], n_labels=10)`` is the paper's 784-500-500-2000-10 model:
RBM 1 is 784-500, RBM 2 is 500-500, and the top RBM, the *associative memory*, has a
visible layer of the 500 penultimate features joined with one softmax label unit of 10
states (:class:`harmonium.units.joined.Joined`) and 2000 hidden units. Without labels
the top RBM is an ordinary RBM.

- The **up pass** (:meth:`DBN.transform`) maps data to the mean activities of each
  layer in turn, ``h_l = E[h | h_{l-1}]``.
- **Generation** (:meth:`DBN.dream`, :func:`dream`) runs alternating Gibbs sampling in
  the top RBM with the label unit clamped, then one **down pass** through the lower
  RBMs' generative (top-down) conditionals.
- **Generative classification** (:meth:`DBN.predict_proba` before fine-tuning): the up
  pass gives the penultimate features f; the top RBM's free energy of (f, label) for each
  label gives ``p(label | f)`` exactly under the top RBM.
- **Discriminative fine-tuning** (:func:`harmonium.fine_tune`) unrolls the stack into a
  ``torch.nn.Sequential`` of linear + sigmoid layers initialised from the pretrained
  weights; the output layer of a labelled DBN is initialised from the top RBM's label
  weights (``p(label | h_top)`` of the associative memory is a softmax of exactly that
  linear map). The trained network is kept as ``dbn.classifier``.

Training layer by layer is :func:`harmonium.fit_greedy`.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn
from torch.nn.functional import one_hot

from harmonium._numerics import as_batch, check_positive_int
from harmonium.io import savable, state_value
from harmonium.models._dbn_state import (
    check_weight_shapes,
    rbm_tensors,
    saved_classifier,
    saved_rbms,
)
from harmonium.models.rbm import RBM
from harmonium.units import Bernoulli, Categorical, Gaussian
from harmonium.units.joined import Joined

__all__ = ["DBN", "VISIBLE_TYPES", "dream"]

VISIBLE_TYPES = {"bernoulli": Bernoulli, "gaussian": Gaussian}


@savable
class DBN(nn.Module):
    """Deep belief net: an ordered stack of RBMs, optionally with label units on top.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[n_visible, n_hidden_1, ..., n_hidden_top]`` (at least two sizes); RBM ``l``
        connects sizes ``l`` and ``l + 1``.
    n_labels : int
        Number of classes of the softmax label unit joined to the top RBM's visible
        layer (0: no labels). Needs at least three sizes.
    visible : {"bernoulli", "gaussian"}
        Units of the data layer: Bernoulli (data in [0, 1], read as probabilities) or
        Gaussian with unit variance (standardised real data).
    weight_std : float
        Standard deviation of the initial weights.
    generator : torch.Generator, optional
        Source of the initial weights.

    Attributes
    ----------
    rbms : torch.nn.ModuleList of RBM
        Bottom first.
    classifier : torch.nn.Sequential or None
        The fine-tuned network once :func:`harmonium.fine_tune` has run.

    Examples
    --------
    >>> import torch
    >>> from harmonium import DBN
    >>> dbn = DBN([64, 32, 16], n_labels=10, generator=torch.Generator().manual_seed(0))
    >>> [tuple(r.weight.shape) for r in dbn.rbms]
    [(64, 32), (42, 16)]
    """

    def __init__(
        self,
        layer_sizes,
        *,
        n_labels: int = 0,
        visible: str = "bernoulli",
        weight_std: float = 0.01,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__len__"):
            raise TypeError(f"layer_sizes must be a sequence of integers, got {layer_sizes!r}")
        sizes = [check_positive_int(s, "each layer size") for s in layer_sizes]
        if len(sizes) < 2:
            raise ValueError(f"layer_sizes needs at least 2 sizes, got {len(sizes)}")
        self.n_labels = check_positive_int(n_labels, "n_labels", minimum=0)
        if self.n_labels == 1:
            raise ValueError("n_labels must be 0 (no labels) or at least 2, got 1")
        if self.n_labels and len(sizes) < 3:
            raise ValueError("a DBN with labels needs at least 3 layer sizes (the labels "
                             "join the top RBM's visible layer, which is a hidden layer)")
        if visible not in VISIBLE_TYPES:
            raise ValueError(f"visible must be one of {tuple(VISIBLE_TYPES)}, got {visible!r}")
        self.layer_sizes = tuple(sizes)
        self.visible_type = visible
        rbms = []
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            bottom = VISIBLE_TYPES[visible](a) if i == 0 else Bernoulli(a)
            if self.n_labels and i == len(sizes) - 2:
                bottom = Joined(bottom, Categorical(1, self.n_labels))
            rbms.append(RBM(bottom, Bernoulli(b), weight_std=weight_std, generator=generator))
        self.rbms = nn.ModuleList(rbms)
        self.classifier: nn.Sequential | None = None

    # ----- structure --------------------------------------------------------------------
    @property
    def n_visible(self) -> int:
        return self.layer_sizes[0]

    @property
    def feature_rbms(self) -> list[RBM]:
        """The RBMs without label units: all of them, or all but the top one."""
        return list(self.rbms[:-1] if self.n_labels else self.rbms)

    def extra_repr(self) -> str:
        sizes = "-".join(map(str, self.layer_sizes))
        return f"{sizes}" + (f"-{self.n_labels} (labels)" if self.n_labels else "")

    # ----- inputs -----------------------------------------------------------------------
    def check_input(self, x, name: str = "x") -> torch.Tensor:
        """Validate data (n_samples, n_visible): finite; in [0, 1] for Bernoulli units."""
        p = self.rbms[0].weight
        x = as_batch(x, name, n_features=self.n_visible, dtype=p.dtype, device=p.device)
        if self.visible_type == "bernoulli" and ((x < 0) | (x > 1)).any():
            bad = x[(x < 0) | (x > 1)][0].item()
            raise ValueError(f"{name} must lie in [0, 1] for Bernoulli visible units, "
                             f"found {bad!r}")
        return x

    def check_labels(self, y, n: int, name: str = "y", n_classes: int | None = None):
        """Validate integer class labels (n,) in [0, n_classes); return an int64 tensor.

        ``n_classes`` defaults to ``n_labels``.
        """
        n_classes = self.n_labels if n_classes is None else n_classes
        y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
        if y.is_floating_point():
            if not torch.equal(y, y.round()):
                raise ValueError(f"{name} must hold integer class labels")
            y = y.long()
        if y.dtype == torch.bool or y.is_complex() or y.ndim != 1 or y.shape[0] != n:
            raise ValueError(f"{name} must be integer labels of shape ({n},), "
                             f"got {y.dtype} of shape {tuple(y.shape)}")
        if n and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"{name} must lie in [0, {n_classes}), "
                             f"found {y.min().item()}..{y.max().item()}")
        return y.long().to(self.rbms[0].weight.device)

    def labels_one_hot(self, y: torch.Tensor) -> torch.Tensor:
        """Class indices (n,) -> flat one-hot label states (n, n_labels)."""
        return one_hot(y, self.n_labels).to(self.rbms[-1].weight.dtype)

    # ----- up pass ----------------------------------------------------------------------
    @torch.no_grad()
    def transform(self, x, depth: int | None = None) -> torch.Tensor:
        """Up pass: mean activities of hidden layer ``depth``.

        Parameters
        ----------
        x : array-like, shape (n_samples, n_visible)
        depth : int, optional
            How many RBMs to pass through (default: every RBM without label units, i.e.
            the top hidden layer of an unlabelled DBN, the penultimate layer of a
            labelled one).

        Returns
        -------
        torch.Tensor, shape (n_samples, layer_sizes[depth])
        """
        x = self.check_input(x)
        n_feat = len(self.feature_rbms)
        depth = n_feat if depth is None else check_positive_int(depth, "depth")
        if depth > n_feat:
            raise ValueError(f"depth must be at most {n_feat} (the RBMs without labels), "
                             f"got {depth}")
        for rbm in self.rbms[:depth]:
            x = rbm.mean_h_from_v(x)
        return x

    # ----- labels and generation ---------------------------------------------------------
    def _require_labels(self, what: str) -> None:
        if not self.n_labels:
            raise ValueError(f"{what} needs a DBN with label units (n_labels > 0)")

    @torch.no_grad()
    def label_log_proba(self, features: torch.Tensor) -> torch.Tensor:
        """``log p(label | f)`` under the top RBM, from penultimate features (n, n_pen).

        Returns
        -------
        torch.Tensor, shape (n, n_labels)
        """
        self._require_labels("label_log_proba")
        top = self.rbms[-1]
        n, k = features.shape[0], self.n_labels
        labels = self.labels_one_hot(torch.arange(k, device=features.device)).repeat(n, 1)
        v = torch.cat([features.repeat_interleave(k, 0), labels], 1)
        return torch.log_softmax(-top.free_energy_visible(v).view(n, k), 1)

    @torch.no_grad()
    def predict_proba(self, x) -> torch.Tensor:
        """Class probabilities: the fine-tuned network if any, else the generative model.

        Parameters
        ----------
        x : array-like, shape (n_samples, n_visible)

        Returns
        -------
        torch.Tensor, shape (n_samples, n_classes)
        """
        if self.classifier is not None:
            return torch.softmax(self.classifier(self.check_input(x)), 1)
        self._require_labels("predict_proba without fine-tuning")
        return self.label_log_proba(self.transform(x)).exp()

    def predict(self, x) -> torch.Tensor:
        """Most probable class of each sample, shape (n_samples,) int64."""
        return self.predict_proba(x).argmax(1)

    @torch.no_grad()
    def dream(
        self,
        label: int,
        n_samples: int = 10,
        steps: int = 200,
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Generate data of class ``label``: clamped Gibbs on top, then a down pass.

        The top RBM's features start from a sample of their bias-only distribution;
        ``steps`` alternating Gibbs sweeps ``h ~ p(h | f, label)``, ``f ~ p(f | h)`` run
        with the label unit clamped; the final binary features go down through the lower
        RBMs' top-down conditionals, sampled layer by layer (ancestral sampling), and the
        data layer is returned as mean activities (the image).

        Parameters
        ----------
        label : int
            Class in ``[0, n_labels)``.
        n_samples : int
            Number of independent chains.
        steps : int
            Gibbs sweeps in the top RBM.
        generator : torch.Generator, optional

        Returns
        -------
        torch.Tensor, shape (n_samples, n_visible)
            Mean visible activities (pixel intensities in [0, 1] for Bernoulli units).
        """
        self._require_labels("dream")
        if isinstance(label, bool) or not isinstance(label, int) or not (
            0 <= label < self.n_labels
        ):
            raise ValueError(f"label must be an integer in [0, {self.n_labels}), got {label!r}")
        n_samples = check_positive_int(n_samples, "n_samples")
        steps = check_positive_int(steps, "steps")
        top = self.rbms[-1]
        features_layer = top.visible.views()[0]
        zeros = torch.zeros(n_samples, *features_layer.shape, dtype=top.weight.dtype,
                            device=top.weight.device)
        f = features_layer.sample_from_inputs(zeros, generator=generator)
        lab = self.labels_one_hot(torch.full((n_samples,), label, device=f.device))
        for _ in range(steps):
            h = top.sample_h_from_v(torch.cat([f, lab], 1), generator=generator)
            f = top.visible.split(top.sample_v_from_h(h, generator=generator))[0]
        x = f
        for i, rbm in enumerate(reversed(self.feature_rbms)):
            last = i == len(self.feature_rbms) - 1
            x = rbm.mean_v_from_h(x) if last else rbm.sample_v_from_h(x, generator=generator)
        return x

    # ----- unrolling ---------------------------------------------------------------------
    def to_sequential(self, n_classes: int | None = None, *,
                      generator: torch.Generator | None = None) -> nn.Sequential:
        """Unroll into ``Linear -> Sigmoid`` blocks initialised from the RBMs, plus outputs.

        Parameters
        ----------
        n_classes : int, optional
            Width of the output layer (logits). A labelled DBN uses its own label count
            and initialises the output from the top RBM's label weights; an unlabelled
            one needs ``n_classes`` and initialises the output with small random weights.
        generator : torch.Generator, optional
            Source of the random output weights (unlabelled DBN).

        Returns
        -------
        torch.nn.Sequential
            Maps (batch, n_visible) to logits (batch, n_classes).
        """
        layers: list[nn.Module] = []
        dtype = self.rbms[0].weight.dtype
        for rbm in self.rbms:
            w = rbm.weight.detach()
            n_in = rbm.hidden.n_units
            n_feat = w.shape[0] - (self.n_labels if rbm is self.rbms[-1] and self.n_labels
                                   else 0)
            lin = nn.Linear(n_feat, n_in, dtype=dtype, device=w.device)
            with torch.no_grad():
                lin.weight.copy_(w[:n_feat].T)
                lin.bias.copy_(rbm.hidden.bias.detach())
            layers += [lin, nn.Sigmoid()]
        n_top = self.layer_sizes[-1]
        if self.n_labels:
            if n_classes is not None and n_classes != self.n_labels:
                raise ValueError(f"this DBN has {self.n_labels} labels, got n_classes={n_classes}")
            top = self.rbms[-1]
            out = nn.Linear(n_top, self.n_labels, dtype=dtype, device=top.weight.device)
            with torch.no_grad():
                out.weight.copy_(top.weight.detach()[-self.n_labels:])
                out.bias.copy_(top.visible.bias.detach()[-self.n_labels:])
        else:
            if n_classes is None:
                raise ValueError("an unlabelled DBN needs n_classes to add an output layer")
            n_classes = check_positive_int(n_classes, "n_classes", minimum=2)
            out = nn.Linear(n_top, n_classes, dtype=dtype, device=self.rbms[0].weight.device)
            with torch.no_grad():
                out.weight.normal_(0.0, 0.01, generator=generator)
                out.bias.zero_()
        return nn.Sequential(*layers, out)

    # ----- saving -----------------------------------------------------------------------
    def _to_state(self) -> dict:
        state = {
            "layer_sizes": list(self.layer_sizes),
            "n_labels": self.n_labels,
            "visible": self.visible_type,
            "rbms": [
                {"visible": r.visible.params, "hidden": r.hidden.params, "weight": r.weight}
                for r in self.rbms
            ],
        }
        if self.classifier is not None:
            linears = [m for m in self.classifier if isinstance(m, nn.Linear)]
            state["classifier"] = [{"weight": m.weight, "bias": m.bias} for m in linears]
        return state

    @classmethod
    def _from_state(cls, state: dict) -> DBN:
        own = "DBN"
        config = {"n_labels": state_value(state, "n_labels", int, owner=own),
                  "visible": state_value(state, "visible", str, owner=own)}
        sizes = state_value(state, "layer_sizes", list, owner=own)
        weight = check_weight_shapes(state, sizes, config["n_labels"])  # before allocating
        dbn = cls(sizes, **config, weight_std=0.0).to(device=weight.device, dtype=weight.dtype)
        saved = saved_rbms(state, dbn)
        with torch.no_grad():
            for rbm, tensors in zip(dbn.rbms, saved, strict=True):
                for key, param in rbm_tensors(rbm).items():
                    param.copy_(tensors[key])
        if "classifier" in state:
            dbn.classifier = saved_classifier(state, dbn)
        return dbn


def dream(dbn: DBN, label: int, n_samples: int = 10, steps: int = 200, *,
          generator: torch.Generator | None = None) -> torch.Tensor:
    """Generate ``n_samples`` data vectors of class ``label`` from a labelled DBN.

    Same as :meth:`DBN.dream`; returns (n_samples, n_visible) mean activities.
    """
    if not isinstance(dbn, DBN):
        raise TypeError(f"dream needs a harmonium.DBN, got {type(dbn).__name__}")
    return dbn.dream(label, n_samples, steps, generator=generator)

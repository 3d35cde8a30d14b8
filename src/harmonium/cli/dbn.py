"""``harmonium dbn``: train, dream with and evaluate deep belief nets on files."""

from __future__ import annotations

import numpy as np
import torch

from harmonium.cli._data import DATA_HELP, is_image_set, load_data, load_rows
from harmonium.cli._options import add_precision, count, positive, seed
from harmonium.cli.rbm import add_data_arguments, binarize, image_shape

OWN_LABELS = "data"  # --labels without a file: the data set's own labels


def load_labels(data: str, spec: str) -> np.ndarray:
    """Class labels: the data set's own (``digits``, MNIST ``.npz``) or a .npy/.csv file."""
    from harmonium.datasets import load_array

    if spec == OWN_LABELS:
        if not is_image_set(data):
            raise ValueError(f"{data} carries no labels: pass --labels FILE (.npy or .csv)")
        return load_data(data).labels
    y = load_array(spec)
    if y.shape[1] != 1 or not np.all(y == np.round(y)) or y.min() < 0:
        raise ValueError(f"{spec}: expected one column of class numbers 0, 1, 2, ...")
    return y[:, 0].astype(np.int64)


def _load_dbn(path: str):
    from harmonium import DBN, load

    model = load(path)
    if not isinstance(model, DBN):
        raise ValueError(f"{path} holds a {type(model).__name__}, not a DBN")
    return model


def _train(args) -> None:
    import harmonium

    if args.labels is not None and not args.fine_tune_only and len(args.layers) < 2:
        raise ValueError("--labels joins the label units to the top RBM, whose visible layer "
                         "is the layer below it: give at least two --layers sizes (e.g. "
                         "--layers 64 128), or add --fine-tune-only")
    x = binarize(load_rows(args.data), args.binarize, args.threshold, args.seed)
    y = None if args.labels is None else load_labels(args.data, args.labels)
    if y is not None and len(y) != len(x):
        raise ValueError(f"{len(y)} labels for {len(x)} samples")
    if args.batch_size is None:  # enough updates per epoch for small data sets
        args.batch_size = min(100, max(10, round(len(x) / 100)))
    g = torch.Generator().manual_seed(args.seed)
    n_labels = 0 if y is None or args.fine_tune_only else int(y.max()) + 1
    dbn = harmonium.DBN([x.shape[1], *args.layers], n_labels=n_labels, generator=g)
    method = harmonium.CD(args.k) if args.method == "cd" else harmonium.PCD(None, args.k)
    harmonium.fit_greedy(dbn, x, y if n_labels else None, method=method, epochs=args.epochs,
                         activations=args.activations, batch_size=args.batch_size, lr=args.lr,
                         generator=g, progress=not args.quiet, checkpoint=args.checkpoint,
                         precision=args.precision)
    if y is not None and args.fine_tune_epochs:
        harmonium.fine_tune(dbn, x, y, epochs=args.fine_tune_epochs, lr=args.fine_tune_lr,
                            batch_size=args.batch_size, generator=g, progress=not args.quiet)
    harmonium.save(dbn, args.output)
    print(f"trained DBN {dbn.extra_repr()} on {len(x)} samples"
          + (", fine-tuned" if dbn.classifier is not None else ""))
    print(f"wrote {args.output}")


def _dream(args) -> None:
    dbn = _load_dbn(args.model)
    g = torch.Generator().manual_seed(args.seed)
    labels = range(dbn.n_labels) if args.label is None else [args.label]
    if not dbn.n_labels:
        raise ValueError(f"{args.model} has no label units: train it with --labels")
    dreams = [dbn.dream(c, args.n, args.steps, generator=g) for c in labels]
    if args.output.endswith(".npy"):
        np.save(args.output, torch.stack(dreams).numpy())
    else:
        from harmonium.plot import image_grid

        shape = image_shape(dbn.n_visible, args.shape)
        rows = [d.numpy().reshape(-1, *shape).clip(0, 1) for d in dreams]
        image_grid(rows, row_labels=[str(c) for c in labels], cell=0.8).savefig(args.output,
                                                                             dpi=100)
    print(f"wrote {args.output}")


def _evaluate(args) -> None:
    dbn = _load_dbn(args.model)
    x = binarize(load_rows(args.data), args.binarize, args.threshold, args.seed)
    y = load_labels(args.data, args.labels)
    if len(y) != len(x):
        raise ValueError(f"{len(y)} labels for {len(x)} samples")
    pred = dbn.predict(x).numpy()
    kind = "fine-tuned network" if dbn.classifier is not None else "generative (top RBM)"
    accuracy = float((pred == y).mean())
    print(f"samples {len(x)}")
    print(f"classifier {kind}")
    print(f"accuracy {accuracy:.4f}")
    print(f"error_percent {100 * (1 - accuracy):.2f}")


def _data_args(p) -> None:
    add_data_arguments(p)
    p.add_argument("--seed", type=seed(), default=0, help="random seed (default: %(default)s)")


def register(sub) -> None:
    p = sub.add_parser("dbn", help="deep belief nets: train, dream, evaluate",
                       description="Deep belief nets (Hinton, Osindero and Teh 2006).")
    cmds = p.add_subparsers(dest="dbn_command", metavar="ACTION")
    cmds.required = True

    t = cmds.add_parser("train", help="pretrain (and fine-tune) a DBN on DATA",
                        description="Greedy layer-wise pretraining; with --labels the top "
                        f"RBM learns labels jointly and the net is fine-tuned. DATA: {DATA_HELP}.")
    t.add_argument("data", metavar="DATA", help="training data")
    t.add_argument("-o", "--output", required=True, help="model file (.safetensors)")
    t.add_argument("--layers", type=count(), nargs="+", required=True, metavar="N",
                   help="hidden layer sizes, bottom first (e.g. 500 500 2000)")
    t.add_argument("--labels", nargs="?", const=OWN_LABELS, default=None, metavar="FILE",
                   help="train with labels: the data set's own (no FILE) or a .npy/.csv")
    t.add_argument("--fine-tune-only", action="store_true",
                   help="no label units on top: use the labels only for fine-tuning")
    t.add_argument("--method", choices=("cd", "pcd"), default="cd",
                   help="each RBM's training method")
    t.add_argument("-k", type=count(), default=1, help="Gibbs sweeps per update")
    t.add_argument("--epochs", type=count(), default=15, help="pretraining epochs per layer")
    t.add_argument("--activations", choices=("means", "samples"), default="means",
                   help="what the next RBM trains on: mean activities or one sample")
    t.add_argument("--batch-size", type=count(), default=None,
                   help="samples per update (default: 1%% of DATA, between 10 and 100)")
    t.add_argument("--lr", type=positive(), default=0.1, help="pretraining learning rate")
    t.add_argument("--fine-tune-epochs", type=count(0), default=20,
                   help="backprop epochs with labels (0: none)")
    t.add_argument("--fine-tune-lr", type=positive(), default=1e-2,
                   help="Adam's learning rate for fine-tuning, decayed to 0 along a cosine "
                   "(above about 0.01 the net can collapse to one class)")
    t.add_argument("--checkpoint", default=None, metavar="DIR",
                   help="folder of per-layer checkpoints (an interrupted run resumes)")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    add_precision(t)
    _data_args(t)
    t.set_defaults(func=_train, writes=(".safetensors",))

    d = cmds.add_parser("dream", help="generate digits of a class from a labelled DBN",
                        description="Clamp the label units of a labelled DBN's top RBM, "
                        "run Gibbs sweeps there and pass the result down to the pixels.")
    d.add_argument("model", metavar="MODEL", help="model file written by 'dbn train --labels'")
    d.add_argument("--label", type=count(0), default=None,
                   help="class (default: one row per class)")
    d.add_argument("-n", type=count(), default=10, help="samples per class")
    d.add_argument("--steps", type=count(), default=500, help="Gibbs sweeps in the top RBM")
    d.add_argument("-o", "--output", required=True, help=".png picture or .npy array")
    d.add_argument("--shape", default=None, help="image shape HxW (default: square)")
    d.add_argument("--seed", type=seed(), default=0, help="random seed")
    d.set_defaults(func=_dream, writes=(".png", ".pdf", ".svg", ".npy"))

    e = cmds.add_parser("evaluate", help="classification accuracy of MODEL on DATA",
                        description="Accuracy on labelled DATA of MODEL's fine-tuned "
                        "classifier, or of its generative (label-unit) classifier when it "
                        "was not fine-tuned.")
    e.add_argument("model", metavar="MODEL", help="model file written by 'dbn train'")
    e.add_argument("data", metavar="DATA", help="labelled data set")
    e.add_argument("--labels", default=OWN_LABELS, metavar="FILE",
                   help="labels file (default: the data set's own)")
    _data_args(e)
    e.set_defaults(func=_evaluate)

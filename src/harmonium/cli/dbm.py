"""``harmonium dbm``: train and evaluate deep Boltzmann machines on files."""

from __future__ import annotations

import torch

from harmonium.cli._data import DATA_HELP, load_rows
from harmonium.cli._options import count, positive, seed
from harmonium.cli.dbn import OWN_LABELS, load_labels
from harmonium.cli.rbm import add_data_arguments, binarize


def _load_dbm(path: str):
    from harmonium import DBM, load

    model = load(path)
    if not isinstance(model, DBM):
        raise ValueError(f"{path} holds a {type(model).__name__}, not a DBM")
    return model


def _labels_for(args, n_rows: int):
    if args.labels is None:
        return None
    y = load_labels(args.data, args.labels)
    if len(y) != n_rows:
        raise ValueError(f"{len(y)} labels for {n_rows} samples")
    return y


def _train(args) -> None:
    import harmonium
    from harmonium.training.dbm import fine_tune_dbm, fit_dbm, pretrain_dbm
    from harmonium.units import Bernoulli

    x = binarize(load_rows(args.data), args.binarize, args.threshold, args.seed)
    y = _labels_for(args, len(x))
    if args.batch_size is None:  # enough updates per epoch for small data sets
        args.batch_size = min(100, max(10, round(len(x) / 100)))
    g = torch.Generator().manual_seed(args.seed)
    dbm = harmonium.DBM([Bernoulli(n) for n in (x.shape[1], *args.layers)], generator=g)
    quiet = args.quiet
    if args.pretrain_epochs:
        pretrain_dbm(dbm, x, epochs=args.pretrain_epochs, batch_size=args.batch_size,
                     lr=args.pretrain_lr, generator=g, progress=not quiet)
    if args.epochs:
        fit_dbm(dbm, x, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                n_chains=args.chains, sweeps=args.sweeps,
                mean_field_steps=args.mean_field_steps, generator=g, progress=not quiet,
                checkpoint=args.checkpoint, resume=args.checkpoint is not None)
    if y is not None and args.fine_tune_epochs:
        fine_tune_dbm(dbm, x, y, epochs=args.fine_tune_epochs, lr=args.fine_tune_lr,
                      batch_size=args.batch_size, mean_field_steps=args.mean_field_steps,
                      generator=g, progress=not quiet)
    harmonium.save(dbm, args.output)
    print(f"trained DBM {dbm.extra_repr()} on {len(x)} samples"
          + (", fine-tuned" if dbm.classifier is not None else ""))
    print(f"wrote {args.output}")


def _evaluate(args) -> None:
    from harmonium.partition.ais_dbm import ais_dbm

    dbm = _load_dbm(args.model)
    x = binarize(load_rows(args.data), args.binarize, args.threshold, args.seed)
    y = _labels_for(args, len(x))
    if y is not None and dbm.classifier is None:
        raise ValueError(f"{args.model} has no classifier: train it with --labels")
    x = dbm.check_visible(x, "DATA")
    binary = bool(((x == 0) | (x == 1)).all())
    g = torch.Generator().manual_seed(args.seed)
    result = ais_dbm(dbm, n_chains=args.chains, n_betas=args.betas,
                     base=x if binary else None, generator=g, progress=not args.quiet)
    low, high = result.bracket(3)
    bound = dbm.mean_field_bound(x, result.log_z, steps=args.mean_field_steps)
    print(f"samples {len(x)}")
    print(f"log_z {result.log_z:.4f}")
    print(f"log_z_bracket_3sigma {low:.4f} {high:.4f}")
    print(f"lower_bound_nats {bound.mean().item():.4f}")
    if y is not None:
        accuracy = float((dbm.predict(x, steps=args.mean_field_steps).numpy() == y).mean())
        print(f"accuracy {accuracy:.4f}")
        print(f"error_percent {100 * (1 - accuracy):.2f}")


def _common(p) -> None:
    add_data_arguments(p)
    p.add_argument("--mean-field-steps", type=count(), default=10,
                   help="at most this many mean-field rounds per input")
    p.add_argument("--seed", type=seed(), default=0, help="random seed")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def register(sub) -> None:
    p = sub.add_parser("dbm", help="deep Boltzmann machines: train, evaluate",
                       description="Deep Boltzmann machines (Salakhutdinov and Hinton 2009).")
    cmds = p.add_subparsers(dest="dbm_command", metavar="ACTION")
    cmds.required = True

    t = cmds.add_parser("train", help="pretrain, jointly train (and fine-tune) a DBM on DATA",
                        description="Greedy pretraining with the doubled-input correction, "
                        "then joint training (mean field + persistent chains); with --labels "
                        f"the mean-field-augmented net is fine-tuned. DATA: {DATA_HELP}.")
    t.add_argument("data", metavar="DATA", help="training data (values in [0, 1])")
    t.add_argument("-o", "--output", required=True, help="model file (.safetensors)")
    t.add_argument("--layers", type=count(), nargs="+", required=True, metavar="N",
                   help="hidden layer sizes, bottom first (e.g. 500 1000)")
    t.add_argument("--labels", nargs="?", const=OWN_LABELS, default=None, metavar="FILE",
                   help="fine-tune a classifier: the data set's own labels (no FILE) or a "
                   ".npy/.csv")
    t.add_argument("--pretrain-epochs", type=count(0), default=10,
                   help="CD-1 epochs per layer of greedy pretraining (0: none)")
    t.add_argument("--pretrain-lr", type=positive(), default=0.05,
                   help="pretraining learning rate")
    t.add_argument("--epochs", type=count(0), default=10, help="joint training epochs")
    t.add_argument("--lr", type=positive(), default=0.005, help="joint training learning rate")
    t.add_argument("--chains", type=count(), default=100, help="persistent chains")
    t.add_argument("--sweeps", type=count(), default=5, help="Gibbs sweeps per update")
    t.add_argument("--batch-size", type=count(), default=None,
                   help="samples per update (default: 1%% of DATA, between 10 and 100)")
    t.add_argument("--fine-tune-epochs", type=count(0), default=20,
                   help="backprop epochs with --labels (0: none)")
    t.add_argument("--fine-tune-lr", type=positive(), default=1e-3,
                   help="Adam's learning rate for fine-tuning, decayed to 0 along a cosine")
    t.add_argument("--checkpoint", default=None, metavar="FILE",
                   help="joint-training checkpoint (an interrupted run resumes from it)")
    _common(t)
    t.set_defaults(func=_train, writes=(".safetensors",))

    e = cmds.add_parser("evaluate", help="AIS log Z, lower bound on log p(v), accuracy",
                        description="Estimate log Z by AIS, print the mean variational lower "
                        "bound on log p(v) over DATA and, with --labels, the accuracy of "
                        "the fine-tuned classifier.")
    e.add_argument("model", metavar="MODEL", help="model file written by 'dbm train'")
    e.add_argument("data", metavar="DATA", help="data set to score")
    e.add_argument("--labels", nargs="?", const=OWN_LABELS, default=None, metavar="FILE",
                   help="also report accuracy: the data set's own labels or a .npy/.csv")
    e.add_argument("--chains", type=count(2), default=100, help="AIS chains")
    e.add_argument("--betas", type=count(3), default=14500,
                   help="AIS inverse temperatures (the published schedule, rescaled)")
    _common(e)
    e.set_defaults(func=_evaluate)

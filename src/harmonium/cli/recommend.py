"""``harmonium recommend``: train, query and evaluate the RBM recommender on rating files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from harmonium.cli._options import count, counted, fraction, positive, real, seed

_FACTORS_HELP = ("rank C of a factored weight W = A B (Salakhutdinov, Mnih and Hinton 2007, "
                 "section 5; default: unfactored)")


def register(sub) -> None:
    p = sub.add_parser(
        "recommend",
        help="collaborative filtering with an RBM (train / predict / evaluate)",
        description="The RBM recommender of Salakhutdinov, Mnih and Hinton (2007) on "
        "(user, item, rating[, timestamp]) files or MovieLens folders.",
    )
    cmd = p.add_subparsers(dest="recommend_command", metavar="ACTION")
    cmd.required = True

    t = cmd.add_parser("train", help="fit a model on a ratings file and save it",
                       description="Fit the RBM recommender on RATINGS, reporting the RMSE "
                       "of a held-out validation fraction per epoch, and save it with its "
                       "id maps and its bias model (the fallback for unknown users and "
                       "items).")
    t.add_argument("ratings", help="ratings CSV/TSV/.dat file or a MovieLens folder")
    t.add_argument("-o", "--output", required=True, help="model file (.safetensors)")
    t.add_argument("--orientation", choices=("item", "user"), default="item",
                   help="one RBM per item (default) or per user")
    t.add_argument("--hidden", type=count(), default=100, help="hidden units (default: 100)")
    t.add_argument("--epochs", type=count(), default=40, help="epochs (default: 40)")
    t.add_argument("--factors", type=count(), help=_FACTORS_HELP)
    t.add_argument("--learning-rate", type=positive(), help="SGD step (default: the model's)")
    t.add_argument("--validation", type=fraction(open_high=True), default=0.05,
                   help="fraction of ratings held out to report validation RMSE per epoch "
                   "(0 to train on all; default: %(default)s)")
    t.add_argument("--duplicates", choices=("error", "latest"), default="error",
                   help="repeated (user, item) pairs: fail, or keep the latest rating")
    t.add_argument("--rating-scale", type=real(), nargs="+", metavar="X", default=None,
                   help="LOW HIGH [STEP] of the ratings (default: inferred from them: whole "
                   "stars, or half stars if any rating is one)")
    t.add_argument("--seed", type=seed(), default=0, help="random seed")
    t.set_defaults(func=_train, writes=(".safetensors",))

    q = cmd.add_parser("predict", help="top-k recommendations for a user",
                       description="The items MODEL rates highest for USER (by expected "
                       "rating; items the user rated in training are left out unless "
                       "--include-rated), with titles when --titles names a movies file.")
    q.add_argument("model", help="model file written by 'recommend train'")
    q.add_argument("--user", required=True, help="user id")
    q.add_argument("--top", type=count(), default=10, help="number of items (default: 10)")
    q.add_argument("--titles", help="movies.csv / movies.dat / u.item, or the MovieLens "
                   "folder holding one, to print titles")
    q.add_argument("--include-rated", action="store_true",
                   help="also list items the user already rated")
    q.set_defaults(func=_predict)

    _add_evaluate(cmd)


def _add_evaluate(cmd) -> None:
    from harmonium.ratings.splits import PROTOCOLS

    e = cmd.add_parser(
        "evaluate", help="RMSE, MAE, ranking metrics on held-out ratings, or a protocol run",
        usage="harmonium recommend evaluate [-h] MODEL RATINGS [-k K] [--threshold T]\n"
        "       harmonium recommend evaluate [MODEL] RATINGS --protocol "
        "{random,temporal,users} [options]",
        description="Without --protocol: score the saved MODEL on the held-out RATINGS. With "
        "--protocol: split RATINGS (random ratings, the newest of each user, or whole "
        "users), fit a model on the training part (MODEL's settings when given, else the "
        "options below) and score it and its bias model on the held-out part. Ranking "
        "metrics rank every item the user did not rate in training.")
    e.add_argument("model", help="model file written by 'recommend train' (with --protocol "
                   "it may be left out: the one file given is then the ratings)")
    e.add_argument("ratings", nargs="?", help="ratings file or MovieLens folder")
    e.add_argument("-k", type=count(), default=10, help="cut-off for the ranking metrics")
    e.add_argument("--threshold", type=real(), default=4.0,
                   help="relevant when the true rating is >= this (default: 4.0)")
    e.add_argument("--protocol", choices=PROTOCOLS,
                   help="random: random ratings; temporal: the newest of each user; users: "
                   "all ratings of random users")
    e.add_argument("--test-fraction", type=fraction(open_low=True, open_high=True), default=0.1,
                   help="share held out by --protocol (default: %(default)s)")
    e.add_argument("--seed", type=seed(), default=0, help="split and training seed")
    e.add_argument("--validation", choices=("random", "temporal"),
                   help="with --protocol: choose the epoch on a validation split of the "
                   "training part drawn this way (early stopping)")
    e.add_argument("--refit", action="store_true",
                   help="with --validation: then retrain on the whole training part up to "
                   "the chosen epoch")
    e.add_argument("--orientation", choices=("item", "user"),
                   help="with --protocol and no MODEL: one RBM per item (default) or user")
    e.add_argument("--hidden", type=count(), help="with --protocol and no MODEL: hidden units")
    e.add_argument("--epochs", type=count(), help="with --protocol: epochs")
    e.add_argument("--factors", type=count(), help="with --protocol: " + _FACTORS_HELP)
    e.add_argument("--duplicates", choices=("error", "latest"), default="error",
                   help="repeated (user, item) pairs: fail, or keep the latest rating")
    e.set_defaults(func=_evaluate)


def _read(path: str, duplicates: str = "error"):
    from harmonium.ratings import load_movielens, load_ratings_csv

    p = Path(path)
    if p.is_dir() or p.name in ("u.data", "ratings.dat"):
        return load_movielens(p, duplicates=duplicates)
    return load_ratings_csv(p, duplicates=duplicates)


def _load_model(path: str):
    from harmonium.io import load
    from harmonium.tasks.recommend import RBMRecommender

    model = load(path)
    if not isinstance(model, RBMRecommender):
        raise ValueError(f"{path} holds a {type(model).__name__}, not an RBMRecommender")
    return model


def _train(args) -> None:
    from harmonium.io import save
    from harmonium.tasks.recommend import RBMRecommender

    if not 0 <= args.validation < 1:
        raise ValueError(f"--validation must be in [0, 1), got {args.validation}")
    data = _read(args.ratings, args.duplicates)
    n = len(data.ratings)
    perm = np.random.default_rng(args.seed).permutation(n)
    n_val = round(args.validation * n)
    val, train = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    options = {} if args.learning_rate is None else {"learning_rate": args.learning_rate}
    if args.rating_scale is not None:
        if len(args.rating_scale) not in (2, 3):
            raise ValueError("--rating-scale takes LOW HIGH or LOW HIGH STEP, got "
                             f"{len(args.rating_scale)} numbers")
        options["rating_scale"] = tuple(args.rating_scale)
    model = RBMRecommender(
        args.hidden, orientation=args.orientation, epochs=args.epochs, factors=args.factors,
        **options
    )
    columns = (data.users, data.items, data.ratings)
    try:
        model.fit(
            *(c[train] for c in columns),
            validation_data=tuple(c[val] for c in columns) if n_val else None,
            generator=torch.Generator().manual_seed(args.seed),
        )
    except ValueError as exc:  # the library names its keyword; the user has a flag
        raise ValueError(str(exc).replace("pass rating_scale=(low, high, step)",
                                          "pass --rating-scale LOW HIGH STEP")) from None
    save(model, args.output)
    last = model.history_[-1]
    extra = f", validation RMSE {last['val_rmse']:.4f}" if "val_rmse" in last else ""
    print(f"trained on {counted(len(train), 'rating')} ({counted(len(model.users_), 'user')}, "
          f"{counted(len(model.items_), 'item')}){extra}; saved {args.output}")


def _user_id(model, text: str):
    """The id as the model stores it: an int when the model's user ids are ints."""
    if model.users_.dtype.kind in "iu":
        try:
            return int(text)
        except ValueError:
            return text
    return text


def _predict(args) -> None:
    model = _load_model(args.model)
    titles = {}
    if args.titles:
        from harmonium.ratings import load_titles

        titles = load_titles(args.titles)
    user = _user_id(model, args.user)
    known = user in model.users_.tolist()
    ids, scores = model.recommend(user, args.top, exclude_rated=not args.include_rated)
    if not known:
        print(f"user {user!r} is unknown: ranking items by their mean rating")
    for rank, (item, score) in enumerate(zip(ids.tolist(), scores, strict=True), 1):
        name = titles.get(item, "")
        print(f"{rank:3d}. {score:.2f}  {item}" + (f"  {name}" if name else ""))


def _print_metrics(metrics: dict, prefix: str = "") -> None:
    for name, value in metrics.items():
        if name == "groups":
            for group, m in value.items():
                print(f"{prefix}rmse[{group}]: {m['rmse']:.4f} (n={m['n']})")
        else:
            print(f"{prefix}{name}: {value:.4f}" if isinstance(value, float)
                  else f"{prefix}{name}: {value}")


def _evaluate(args) -> None:
    if args.protocol is None:
        if args.ratings is None:
            raise ValueError("evaluate needs MODEL and RATINGS (or --protocol and RATINGS)")
        model = _load_model(args.model)
        data = _read(args.ratings, args.duplicates)
        _print_metrics(model.evaluate(data.users, data.items, data.ratings, k=args.k,
                                      threshold=args.threshold))
        return
    _evaluate_protocol(args)


def _evaluate_protocol(args) -> None:
    from harmonium.ratings.splits import split_ratings
    from harmonium.tasks.recommend import _CONFIG, RBMRecommender

    model_path, ratings = (args.model, args.ratings) if args.ratings else (None, args.model)
    config = {}
    if model_path is not None:
        saved = _load_model(model_path)
        config = {name: getattr(saved, name) for name in _CONFIG}
    for name in ("orientation", "hidden", "epochs", "factors"):
        if getattr(args, name) is not None:
            config["n_hidden" if name == "hidden" else name] = getattr(args, name)
    data = _read(ratings, args.duplicates)
    train, test = split_ratings(args.protocol, data.users, data.timestamps,
                                test_fraction=args.test_fraction, seed=args.seed)
    columns = (data.users, data.items, data.ratings)
    model = RBMRecommender(**config).fit(
        *(c[train] for c in columns), validation=args.validation, refit=args.refit,
        timestamps=None if data.timestamps is None else data.timestamps[train],
        generator=torch.Generator().manual_seed(args.seed))
    print(f"protocol {args.protocol}: {len(train)} training ratings, {len(test)} held out "
          f"(seed {args.seed})" + (f"; best epoch {model.best_epoch_}"
                                   if model.best_epoch_ else ""))
    held = tuple(c[test] for c in columns)
    _print_metrics(model.evaluate(*held, k=args.k, threshold=args.threshold))
    t = model._ratings
    from harmonium.ratings.evaluation import evaluate_recommender

    bias = evaluate_recommender(model.baseline_, *held, k=args.k, threshold=args.threshold,
                                train_users=t.users.ids[t.u], train_items=t.items.ids[t.i])
    _print_metrics(bias, prefix="bias model ")

"""``harmonium recommend``: train, query and evaluate the RBM recommender on rating files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from harmonium.cli._options import count, fraction, positive, real, seed


def register(sub) -> None:
    p = sub.add_parser(
        "recommend",
        help="collaborative filtering with an RBM (train / predict / evaluate)",
        description="The RBM recommender of Salakhutdinov, Mnih and Hinton (2007) on "
        "(user, item, rating[, timestamp]) files or MovieLens folders.",
    )
    cmd = p.add_subparsers(dest="recommend_command", metavar="ACTION")
    cmd.required = True

    t = cmd.add_parser("train", help="fit a model on a ratings file and save it")
    t.add_argument("ratings", help="ratings CSV/TSV/.dat file or a MovieLens folder")
    t.add_argument("-o", "--output", required=True, help="model file (.safetensors)")
    t.add_argument("--orientation", choices=("item", "user"), default="item",
                   help="one RBM per item (default) or per user")
    t.add_argument("--hidden", type=count(), default=100, help="hidden units (default: 100)")
    t.add_argument("--epochs", type=count(), default=40, help="epochs (default: 40)")
    t.add_argument("--learning-rate", type=positive(), help="SGD step (default: the model's)")
    t.add_argument("--validation", type=fraction(open_high=True), default=0.05,
                   help="fraction of ratings held out to report validation RMSE per epoch "
                   "(0 to train on all; default: %(default)s)")
    t.add_argument("--duplicates", choices=("error", "latest"), default="error",
                   help="repeated (user, item) pairs: fail, or keep the latest rating")
    t.add_argument("--seed", type=seed(), default=0)
    t.set_defaults(func=_train)

    q = cmd.add_parser("predict", help="top-k recommendations for a user")
    q.add_argument("model", help="model file written by 'recommend train'")
    q.add_argument("--user", required=True, help="user id")
    q.add_argument("--top", type=count(), default=10, help="number of items (default: 10)")
    q.add_argument("--titles", help="movies.csv / movies.dat / u.item to print titles")
    q.add_argument("--include-rated", action="store_true",
                   help="also list items the user already rated")
    q.set_defaults(func=_predict)

    e = cmd.add_parser("evaluate", help="RMSE, MAE, precision/recall@k on held-out ratings")
    e.add_argument("model", help="model file written by 'recommend train'")
    e.add_argument("ratings", help="held-out ratings file or MovieLens folder")
    e.add_argument("-k", type=count(), default=10, help="cut-off for precision/recall")
    e.add_argument("--threshold", type=real(), default=4.0,
                   help="relevant when the true rating is >= this (default: 4.0)")
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
    model = RBMRecommender(
        args.hidden, orientation=args.orientation, epochs=args.epochs, **options
    )
    columns = (data.users, data.items, data.ratings)
    model.fit(
        *(c[train] for c in columns),
        validation_data=tuple(c[val] for c in columns) if n_val else None,
        generator=torch.Generator().manual_seed(args.seed),
    )
    save(model, args.output)
    last = model.history_[-1]
    extra = f", validation RMSE {last['val_rmse']:.4f}" if "val_rmse" in last else ""
    print(f"trained on {len(train)} ratings ({len(model.users_)} users, "
          f"{len(model.items_)} items){extra}; saved {args.output}")


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


def _evaluate(args) -> None:
    model = _load_model(args.model)
    data = _read(args.ratings)
    metrics = model.evaluate(data.users, data.items, data.ratings, k=args.k,
                             threshold=args.threshold)
    for name, value in metrics.items():
        print(f"{name}: {value:.4f}" if isinstance(value, float) else f"{name}: {value}")

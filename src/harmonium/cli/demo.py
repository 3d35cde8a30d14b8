"""``harmonium demo``: run the classic demonstrations on bundled data."""

from __future__ import annotations

from harmonium.cli._options import seed
from harmonium.demo import SECTIONS, run_demo


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="run the demonstrations on bundled data and write an HTML report",
        description="Run the classic demonstrations on bundled data (no download) and "
        "write a self-contained HTML report with the figures.",
    )
    p.add_argument("--out", default="harmonium-demo", help="output folder (default: %(default)s)")
    p.add_argument("--seed", type=seed(), default=0, help="random seed (default: %(default)s)")
    p.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
        metavar="SECTION",
        help=f"run only these sections ({', '.join(SECTIONS)})",
    )
    p.set_defaults(func=_run)


def _run(args) -> None:
    report, summaries = run_demo(args.out, seed=args.seed, sections=args.only)
    for line in summaries:
        print(line)
    print(f"report: {report}")

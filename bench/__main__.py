"""``python -m bench --size N [--database-url URL] [--scenario NAME ...] [--regenerate]``.

Generates (or reuses) the data set, runs the scenarios, prints a table of figures against the
targets of DESIGN.md and merges the figures into ``bench/results/latest.json``.
"""

import argparse
import os
import sys

import django
from rich.console import Console

from bench.environment import RESULTS_FILE, configure


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000, help="number of cases")
    parser.add_argument(
        "--database-url",
        help="a postgres:// URL; default: a SQLite file per size under bench/data/",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        dest="scenarios",
        metavar="NAME",
        help="run only this scenario (repeatable); default: all",
    )
    parser.add_argument(
        "--regenerate", action="store_true", help="rebuild the data set even if one exists"
    )
    parser.add_argument(
        "--generate-only", action="store_true", help="make the data set, run no scenario"
    )
    args = parser.parse_args(argv)
    if args.size < 1:
        parser.error("--size must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    console = Console()
    where = configure(args.size, args.database_url)
    django.setup()

    # Imported after setup: both load the models.
    from django.db import connection

    from bench.generate import DEFAULT_SEED, REFERENCE_NOW, Dataset, ensure_dataset
    from bench.harness import Context, merge_results, results_table, run_meta
    from bench.postgres import create_database_if_missing
    from bench.scenarios import OWN_DATABASE, SCENARIOS

    names = args.scenarios or list(SCENARIOS)
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        console.print(f"[red]Unknown scenario {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
        return 2
    if connection.vendor == "postgresql":
        create_database_if_missing(connection.settings_dict)
    console.print(f"Data set: {args.size:,} cases in {where}")
    if args.generate_only or not set(names) <= OWN_DATABASE:
        dataset = ensure_dataset(args.size, regenerate=args.regenerate, console=console)
    else:
        # Scenarios with a database of their own never read the shared data set: do not spend
        # minutes generating it (or regenerate it under someone else's run).
        dataset = Dataset(args.size, DEFAULT_SEED, REFERENCE_NOW, False, 0.0, 0)
    if args.generate_only:
        return 0
    context = Context(dataset=dataset, console=console, database=connection.vendor)
    load = os.getloadavg()[0]
    if load > 1.0:
        console.print(f"[yellow]Load average {load:.1f}: timings share the CPU with other work.")
    reports = {}
    for name in names:
        console.rule(f"scenario {name}")
        reports[name] = SCENARIOS[name](context)
    console.print(results_table(reports))
    merge_results(RESULTS_FILE, reports, run_meta(dataset, connection.vendor, load))
    console.print(f"Figures merged into {RESULTS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

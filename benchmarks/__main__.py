"""``python -m benchmarks [--quick] [--only seed|hotpath|export|litellm] [--database-url URL]``.

A full run measures everything and writes ``docs/benchmarks.md`` and ``docs/benchmarks.png``
(with ``--only``, the page keeps the other parts' tables from the last full run only if you
rerun them: each run writes what it measured). ``--quick`` runs every part small, checks that
each alternative agrees with aigov, and renders the page into a temporary directory, so that
neither the measuring nor the report can rot: CI runs it.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import export_memory, hot_path, litellm_budgets, report, seed_strategies
from benchmarks._support import Databases

PARTS = ("seed", "hotpath", "export", "litellm")
DOCS = Path(__file__).resolve().parent.parent / "docs"


def _log(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small, correctness only; no output")
    parser.add_argument("--only", choices=PARTS, action="append", help="run only these parts")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server to measure on (default: the tests' provider chain)",
    )
    parser.add_argument("--docs", type=Path, default=DOCS, help="where the page and chart go")
    args = parser.parse_args(argv)
    parts = tuple(args.only or PARTS)
    started = time.perf_counter()
    databases = Databases(args.database_url)
    _log(f"PostgreSQL {databases.server_version()} from {databases.source}")
    results = report.Results(server_version=databases.server_version(), source=databases.source)
    try:
        if "seed" in parts:
            results.seed = seed_strategies.run(databases, quick=args.quick, log=_log)
        if "hotpath" in parts:
            results.hot_path = hot_path.run(databases, quick=args.quick, log=_log)
        if "export" in parts:
            results.export = export_memory.run(databases, quick=args.quick, log=_log)
        if "litellm" in parts:
            results.litellm = litellm_budgets.run(databases, quick=args.quick, log=_log)
    finally:
        databases.close()
    results.seconds = time.perf_counter() - started
    if args.quick:
        with tempfile.TemporaryDirectory() as scratch:  # the page renders from any run
            report.write(results, Path(scratch))
        _log(f"quick run: every check passed in {results.seconds:.1f} s; nothing written")
        return 0
    with tempfile.NamedTemporaryFile("wb", prefix="bench-", suffix=".pickle", delete=False) as kept:
        pickle.dump(results, kept)  # to redraw the page without measuring again
    written = report.write(results, args.docs)
    _log(f"wrote {', '.join(str(path) for path in written)} in {results.seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

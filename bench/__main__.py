"""Benchmark harness: ``python -m bench list`` and ``python -m bench run SCENARIO [--json]``.

Each scenario is a module ``bench/scenarios/<name with _>.py`` with a docstring (its first line
is the listing) and ``run() -> dict``. The dict holds ``scenario``, the figures, the floor
measured in the same run, ``ratio`` where one applies, and ``target``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys

import bench.scenarios


def scenarios() -> dict[str, str]:
    """Map scenario names to module names."""
    return {
        info.name.replace("_", "-"): f"bench.scenarios.{info.name}"
        for info in pkgutil.iter_modules(bench.scenarios.__path__)
        if not info.name.startswith("_")
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="name the scenarios")
    run = sub.add_parser("run", help="run one scenario")
    run.add_argument("scenario")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    known = scenarios()
    if args.cmd == "list":
        for name, module in sorted(known.items()):
            doc = (importlib.import_module(module).__doc__ or "").strip().splitlines()
            print(f"{name:20} {doc[0] if doc else ''}")
        return 0
    if args.scenario not in known:
        print(
            f"unknown scenario {args.scenario!r}; known: {', '.join(sorted(known))}",
            file=sys.stderr,
        )
        return 2
    result = importlib.import_module(known[args.scenario]).run()
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key, value in result.items():
            print(f"{key:28} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

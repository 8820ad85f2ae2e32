"""The ``palimpsest`` command: each module in ``COMMAND_MODULES`` registers its subcommands."""

from __future__ import annotations

import argparse
import importlib
import sys

from serving.core.openmp import apply_openmp_defaults

apply_openmp_defaults()  # libgomp reads these once, when torch is first imported (serving.client does)

from serving.client import ServerError  # noqa: E402

COMMAND_MODULES: list[str] = [
    "serving.cli.core",
    "serving.cli.memory",
    "serving.cli.edits",
    "serving.cli.skills",
    "serving.cli.updates",
    "serving.cli.eval",
    "serving.cli.mcp_server",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="palimpsest", description="Keep a local language model up to date: memory, edits, skills."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except ServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

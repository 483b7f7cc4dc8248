"""``mtkd doctor``: what this machine can run — CPU ISA, GPU, ONNX Runtime providers, TensorRT."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``--json`` for the facts as JSON."""
    p.add_argument("--json", action="store_true", help="print the facts as JSON")


def run(args: argparse.Namespace) -> int:
    """Print the facts as a table, or as JSON."""
    from benchmarks.doctor import diagnose, doctor_table

    facts = diagnose()
    print(json.dumps(facts, indent=2) if args.json else doctor_table(facts), end="\n" if args.json else "")
    return 0

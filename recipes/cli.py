"""The ``mtkd`` command line: a table of commands and one error policy.

Each command is a module of ``recipes.commands`` with ``add_arguments(parser)`` and ``run(args) -> int``
(Optimum's one module per command). Only the chosen command's module is imported, so ``mtkd --help`` and
light commands start without loading torch. Errors a user can fix print as one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sys
import traceback
from pathlib import Path

from distill.errors import DataUnavailable, MtkdError

from .stages import register_stages

EXIT_USER_ERROR = 2
EXIT_BUG = 70  # EX_SOFTWARE: an internal error
# the file system's answers a user can act on: permissions, a full disk or quota, a read-only mount
USER_FIXABLE_OS_ERRORS = {errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EROFS}

COMMANDS: dict[str, tuple[str, str]] = {  # name: (module under recipes.commands, one-line help)
    "run": ("run", "run a recipe's stages (skipping those already up to date)"),
    "validate": ("validate", "check a recipe (and --set overrides) without running it"),
    "recipes": ("listing", "list the packaged recipes"),
    "ablate": (
        "ablate",
        "compare variants side by side: the student's KD signals (distill), the teacher with/without "
        "MLM pretraining (pretrain), task sampling and weighting schemes (weighting)",
    ),
    "bench": ("bench", "measure latency and per-task accuracy of a run's models or one model"),
    "report": ("report", "compare benchmark runs or list their history"),
    "baseline": ("baseline", "TF-IDF + linear models (CRF for tags) on the recipe's splits, beside the teacher"),
    "doctor": ("doctor", "what this machine can run: CPU ISA, GPU, ONNX Runtime providers, TensorRT"),
    "evaluate": ("evaluate", "score a finished stage's model again with this mtkd's evaluation code"),
    "metrics": ("metrics", "a run's per-task test metrics (or --stage quantize: its artifacts)"),
    "export": ("export", "a run's compressed model as a bundle, an Optimum directory or a Triton repo"),
    "predict": ("predict", "predict with a bundle; JSON per input (stdin lines when no TEXT)"),
    "serve": ("serve", "serve a bundle over HTTP: adaptive batching, bounded queue, deadlines"),
    "loadtest": ("loadtest", "load a bundle in-process, or a server (--url): p50/p99, req/s, outcomes"),
    "front": ("front", "train several students of one teacher, bench them in one run, draw the front"),
}


def command_module(name: str):
    """The module that defines command ``name``'s arguments and ``run``."""
    return importlib.import_module(f"recipes.commands.{COMMANDS[name][0]}")


def parser_for(argv: list[str]) -> argparse.ArgumentParser:
    """The parser for this command line: every command listed, the chosen one's arguments filled in."""
    chosen = next((a for a in argv if not a.startswith("-")), None)
    p = argparse.ArgumentParser(prog="mtkd", description="Multi-task distillation and compression for encoders.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)
    for name, (_, help_line) in COMMANDS.items():
        command = sub.add_parser(name, help=help_line)
        if name == chosen:
            command_module(name).add_arguments(command)
    return p


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse a command line; the raw line is kept as ``args.argv`` (``run --nproc`` relaunches it)."""
    parser = parser_for(argv)
    # texts after options (`predict B --task t TEXT`) are left over by argparse's one-pass positionals
    args, extra = parser.parse_known_args(argv)
    if extra and (getattr(args, "texts", None) is None or any(x.startswith("-") for x in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        args.texts += extra
    args.argv = argv
    return args


def configure_logging(verbose: bool) -> None:
    """mtkd's progress lines at INFO (DEBUG with ``-v``); the libraries' chatter at WARNING."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S"
    )
    for noisy in ("transformers", "datasets", "urllib3", "filelock", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mtkd`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    verbose = bool({"-v", "--verbose"} & set(argv))  # known before parsing: the chosen command's import may fail
    try:
        args = parse(argv)
        configure_logging(verbose)
        register_stages()
        return command_module(args.command).run(args)
    except DataUnavailable as e:  # real data not on this machine: a skip with its reason, not a failure
        print(f"mtkd: skipped: {e}", file=sys.stderr)
        return 0
    except MtkdError as e:
        print(f"mtkd: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("mtkd: interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        if e.errno not in USER_FIXABLE_OS_ERRORS:
            return bug_report(e, verbose)
        print(
            f"mtkd: error: {e.filename or 'a file'}: {e.strerror} ({errno.errorcode[e.errno]}); the files written "
            "before it are intact, the unfinished ones are not taken as done",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    except Exception as e:  # anything else a user can reach is a bug in mtkd: say so in one line
        return bug_report(e, verbose)


def bug_report(error: BaseException, verbose: bool) -> int:
    """One line that says this is mtkd's fault and where it happened (the traceback with ``-v``)."""
    if verbose:
        raise error
    frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
    print(
        f"mtkd: internal error (a bug in mtkd, not in your input): {type(error).__name__}: {error}{where}; "
        "rerun with -v for the traceback and report it",
        file=sys.stderr,
    )
    return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())

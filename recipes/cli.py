"""The ``mtkd`` command line. Errors a user can fix print as one line and exit with code 2."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import sys
import traceback
from pathlib import Path

from distill.errors import DataUnavailable, MtkdError, RecipeError
from distill.io import remove_leftover_temporaries

from .run_lock import new_directory_lock, run_lock
from .stages import register_stages

EXIT_USER_ERROR = 2
EXIT_BUG = 70  # EX_SOFTWARE: an internal error
# the file system's answers a user can act on: permissions, a full disk or quota, a read-only mount
USER_FIXABLE_OS_ERRORS = {errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EROFS}


def _set_option(p: argparse.ArgumentParser, example: str = "e.g. --set teacher.train.epochs=1") -> None:
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help=f"override a recipe value, {example} (repeatable)",
    )


def _run_options(p: argparse.ArgumentParser) -> None:
    """Options shared by commands that run stages."""
    p.add_argument("--out", type=Path, help="run directory (default runs/<recipe name>)")
    _set_option(p)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--resume", action="store_true", help="continue interrupted stages from their last checkpoint")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mtkd", description="Multi-task distillation and compression for encoders.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a recipe's stages (skipping those already up to date)")
    run.add_argument("recipe", help="a recipe file, or the name of a packaged recipe (e.g. quickstart)")
    run.add_argument("--stages", help="comma-separated stages to run (and what they need)")
    run.add_argument(
        "--nproc",
        type=int,
        default=1,
        metavar="N",
        help="data-parallel training in N processes on this machine (torchrun; gloo on CPU, NCCL on CUDA)",
    )
    _run_options(run)

    val = sub.add_parser("validate", help="check a recipe (and --set overrides) without running it")
    val.add_argument("recipe")
    _set_option(val)

    recipes = sub.add_parser("recipes", help="list the packaged recipes")
    recipes.add_argument(
        "--reference", action="store_true", help="print every recipe key with its type, default and meaning (Markdown)"
    )

    abl = sub.add_parser(
        "ablate",
        help="compare variants side by side: the student's KD signals (distill), the teacher with/without "
        "MLM pretraining (pretrain), task sampling and weighting schemes (weighting)",
    )
    abl.add_argument("recipe")
    abl.add_argument("--what", choices=("distill", "pretrain", "weighting"), default="distill")
    abl.add_argument(
        "--seeds",
        type=lambda text: [int(s) for s in text.split(",")],
        help="distill only: comma-separated student seeds, e.g. 0,1,2: one ablation each (ablation-seed<N>) "
        "and a mean ± sd table",
    )
    _run_options(abl)
    _measure_commands(sub)
    _deploy_commands(sub)
    return p


def _measure_commands(sub: argparse._SubParsersAction) -> None:
    """``bench``, ``report``, ``baseline``, ``doctor``, ``evaluate``, ``metrics``: measuring and reading runs."""
    bench = sub.add_parser("bench", help="measure latency and per-task accuracy of a run's models or one model")
    bench.add_argument("target", type=Path, nargs="?", help="a run directory or a model directory")
    bench.add_argument("--recipe", help="recipe for the tasks and grid (default: the run's recipe.yaml)")
    _set_option(bench, "e.g. --set bench.batch_sizes=[1,8]")
    bench.add_argument("--out", type=Path, help="output directory (default runs/bench/<target>-<time>)")
    bench.add_argument(
        "--peak",
        action="store_true",
        help="measure this device's fp32, INT8 and bf16 GEMM peaks, through torch and each installed runtime",
    )
    bench.add_argument(
        "--fusions",
        action="store_true",
        help="time ONNX Runtime's fused SkipLayerNormalization against Add + LayerNormalization (1 and 2 threads)",
    )
    bench.add_argument(
        "--gpu-check",
        action="store_true",
        help="on a CUDA GPU: build the run's TensorRT engines, then time torch fp16/bf16, torch.compile, "
        "ONNX Runtime CUDA/TensorRT and the engines side by side, with per-task accuracy",
    )

    rep = sub.add_parser("report", help="compare benchmark runs or list their history")
    rep.add_argument(
        "--compare", nargs=2, metavar=("RUN_A", "RUN_B"), help="bench directories, results.jsonl files or history ids"
    )
    rep.add_argument("--history", action="store_true", help="list recorded benchmark runs")
    rep.add_argument("--db", type=Path, default=Path("runs") / "bench-history.sqlite")

    base = sub.add_parser(
        "baseline", help="TF-IDF + linear models (CRF for tags) on the recipe's splits, beside the teacher"
    )
    base.add_argument("recipe")
    base.add_argument("--out", type=Path, help="run directory (default runs/<recipe name>)")
    _set_option(base)

    doc = sub.add_parser("doctor", help="what this machine can run: CPU ISA, GPU, ONNX Runtime providers, TensorRT")
    doc.add_argument("--json", action="store_true", help="print the facts as JSON")

    ev = sub.add_parser("evaluate", help="score a finished stage's model again with this mtkd's evaluation code")
    ev.add_argument("run", type=Path)
    ev.add_argument("--stage", default="teacher", help="teacher, distill or prune")
    ev.add_argument("--task", action="append", dest="tasks", help="only this task (repeatable)")

    met = sub.add_parser("metrics", help="a run's per-task test metrics (or --stage quantize: its artifacts)")
    met.add_argument("run", type=Path, help="a run directory (e.g. runs/quickstart)")
    met.add_argument("--stage", default="teacher")


def _deploy_commands(sub: argparse._SubParsersAction) -> None:
    """``export``, ``predict``, ``serve`` and ``loadtest``: from a finished run to a served model."""
    exp = sub.add_parser("export", help="a run's compressed model as a bundle, an Optimum directory or a Triton repo")
    exp.add_argument("run", type=Path, help="a finished run directory (e.g. runs/quickstart)")
    exp.add_argument("--format", choices=("bundle", "optimum", "triton"), default="bundle")
    exp.add_argument("--artifact", help="quantize-stage artifact (default: the fastest within tolerance)")
    exp.add_argument(
        "--runtime",
        default="auto",
        help="runtime the bundle is served by (default auto: the bench's fastest for the artifact at batch 1 within "
        "tolerance, on real text where it timed the test split's lengths; else the one its model file suits)",
    )
    exp.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="cuda: bundle the student form, runtime and precision the GPU bench (--bench) found fastest at batch 1 "
        "within tolerance (torch fp16/bf16, cast weights or CUDA graphs where TensorRT is absent)",
    )
    exp.add_argument("--bench", type=Path, help="the bench folder to choose from (default RUN/bench)")
    exp.add_argument("--task", help="the one task an Optimum directory serves")
    exp.add_argument("--out", type=Path, required=True)
    exp.add_argument("--no-verify", action="store_true", help="skip re-scoring the test split through the bundle")

    pred = sub.add_parser("predict", help="predict with a bundle; JSON per input (stdin lines when no TEXT)")
    pred.add_argument("bundle", type=Path)
    pred.add_argument("texts", nargs="*", metavar="TEXT", help="a text, or QUERY<TAB>TITLE for pair tasks")
    pred.add_argument("--task", action="append", dest="tasks", help="only this task (repeatable; default all)")

    from .commands.front import add_front_command
    from .commands.serve import add_serve_commands

    add_serve_commands(sub)  # serve, loadtest
    add_front_command(sub)


def quantize_table(run: Path) -> str:
    """Markdown table of ``<run>/quantize/report.json``: each artifact's size, worst drop and fallback."""
    from distill.io import read_json

    lines = ["| artifact | precision | size MB | worst task drop vs FP32 | within tolerance | layers kept in FP32 |"]
    lines.append("|---|---|---:|---:|---|---|")
    for name, r in read_json(run / "quantize" / "report.json").items():
        if "failed" in r:
            lines.append(f"| {name} (peer) | – | – | failed: {r['failed'][:90]}… | – | – |")
            continue
        worst = max(r["drop_vs_fp32"].values())
        kept = ", ".join(r["fp32_layers"]) or "–"
        label = f"{name} (peer)" if r.get("peer") else name
        lines.append(
            f"| {label} | {r['precision']} | {r['size_mb']:.2f} | {100 * worst:.2f}% | "
            f"{'yes' if r['within_tolerance'] else 'no'} | {kept} |"
        )
    return "\n".join(lines)


def metrics_table(run: Path, stage: str) -> str:
    """Markdown table of ``<run>/<stage>/metrics.json``: metric, value, baseline per task."""
    from distill.io import read_json

    if stage == "quantize":
        return quantize_table(run)
    rows = read_json(run / stage / "metrics.json")
    lines = [f"| task | metric | {stage} | baseline |", "|---|---|---:|---:|"]
    for task, m in rows.items():
        arrow = "↑" if m["higher_is_better"] else "↓"
        lines.append(f"| {task} | {m['metric']} {arrow} | {m['value']:.4f} | {m['baseline']:.4f} |")
    return "\n".join(lines)


def without_nproc(argv: list[str]) -> list[str]:
    """The command line minus ``--nproc N`` (what each torchrun worker runs)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def _launch(nproc: int, argv: list[str]) -> int:
    """Re-run this command under torchrun with ``nproc`` workers on this machine."""
    import subprocess

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    return subprocess.call([*cmd, "-m", "recipes", *without_nproc(argv)])


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    from distill.training import distributed

    from .loader import load_recipe
    from .pipeline import run_pipeline

    if args.nproc < 1:
        raise MtkdError(f"--nproc must be at least 1 (got {args.nproc})")
    recipe = load_recipe(args.recipe, args.overrides)
    out = args.out or Path("runs") / recipe.name
    if args.nproc > 1 and not distributed.launched_by_torchrun():
        with run_lock(out):  # held by the launcher for its workers, which take none themselves
            return _launch(args.nproc, argv)
    wanted = [s.strip() for s in args.stages.split(",") if s.strip()] if args.stages else None
    device = distributed.init_from_env(args.device)
    main = distributed.is_main()
    try:
        with run_lock(out) if not distributed.launched_by_torchrun() else contextlib.nullcontext():
            run_pipeline(recipe, out, wanted, device, args.resume)
    finally:
        distributed.shutdown()
    if main:
        print(f"done: {out}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    if args.peak:
        from benchmarks.peak import gemm_peaks, peak_lines
        from benchmarks.runtime_peak import GRAPHS, runtime_peaks

        peak = gemm_peaks()
        peak["by_runtime"] = runtime_peaks({(r, p) for r, precisions in GRAPHS.items() for p in precisions})
        print(f"GEMM peaks (best of square products {peak['sizes']}, {peak['threads']} threads, {peak['device']}):")
        print("\n".join(f"  {line}" for line in peak_lines(peak)))
        if not peak["bf16_flops"]:
            print("  bf16: not native here (no AVX-512 BF16 / AMX): not measured")
        if args.target is None and not args.fusions:
            return 0
    if args.fusions:
        from benchmarks.fusions import format_timings, skip_layer_norm_timings

        print(format_timings([row for threads in (1, 2) for row in skip_layer_norm_timings(threads=threads)]))
        if args.target is None:
            return 0
    if args.target is None:
        raise RecipeError("mtkd bench: give a run or model directory (or --peak, --fusions)")
    if args.gpu_check:
        from recipes.commands.gpu_check import gpu_check

        out = gpu_check(args.target, args.overrides, args.out)
        print(f"done: {out}/report.md")
        return 0
    from recipes.stages.bench import bench_target

    with run_lock(args.out) if args.out else contextlib.nullcontext():  # the default folder is new each time
        out = bench_target(args.target, args.recipe, args.overrides, args.out)
    print(f"done: {out}/report.md")
    return 0


def _report(args: argparse.Namespace) -> int:
    from benchmarks.history import compare, history, load_rows

    if args.history:
        for run_id, created, target, n in history(args.db):
            print(f"{run_id}  {created}  {n:4d} rows  {target}")
        return 0
    if not args.compare:
        raise MtkdError("mtkd report: use --compare RUN_A RUN_B or --history")
    a, b = (load_rows(ref, args.db) for ref in args.compare)
    table, regressions = compare(a, b)
    print(table)
    print(f"{regressions} regression(s)" if regressions else "no regressions")
    return 0


def _deploy(args: argparse.Namespace) -> int:
    from .commands import export as export_cmd

    if args.command == "export":
        with new_directory_lock(args.out):
            left = remove_leftover_temporaries(args.out)
            if left:
                logging.getLogger("mtkd").info(
                    "removed what a killed export into %s left unfinished: %s", args.out, ", ".join(left)
                )
            print(
                export_cmd.export_run(
                    args.run,
                    args.format,
                    args.out,
                    args.artifact,
                    args.task,
                    not args.no_verify,
                    args.runtime,
                    args.device,
                    args.bench,
                )
            )
        return 0
    if args.command == "predict":
        return export_cmd.run_predict(args.bundle, args.texts, args.tasks)
    from .commands.serve import run_loadtest, run_serve

    return run_serve(args) if args.command == "serve" else run_loadtest(args)


def _validate(args: argparse.Namespace) -> int:
    from .loader import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    print(f"ok: recipe {recipe.name} ({len(recipe.tasks)} tasks: {', '.join(recipe.tasks)})")
    return 0


def _ablate(args: argparse.Namespace) -> int:
    from recipes.commands.ablation import run_ablation, run_seed_ablation
    from recipes.commands.teacher_ablation import run_teacher_ablation

    from .loader import load_recipe

    if args.seeds and args.what != "distill":
        raise RecipeError("mtkd ablate: --seeds repeats the distill ablation (--what distill) only")
    recipe = load_recipe(args.recipe, args.overrides)
    out = args.out or Path("runs") / recipe.name
    with run_lock(out):
        if args.what == "distill" and args.seeds:
            print(run_seed_ablation(recipe, out, args.seeds, args.device, args.resume))
        elif args.what == "distill":
            print(run_ablation(recipe, out, args.device, args.resume))
        else:
            print(run_teacher_ablation(recipe, out, args.what, args.device, args.resume))
    return 0


def _baseline(args: argparse.Namespace) -> int:
    from recipes.commands.baseline import run_baseline

    from .loader import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    print(run_baseline(recipe, args.out or Path("runs") / recipe.name))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from recipes.commands.evaluate import rescore

    print(rescore(args.run, args.stage, args.tasks))
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from benchmarks.doctor import diagnose, doctor_table

    facts = diagnose()
    print(json.dumps(facts, indent=2) if args.json else doctor_table(facts), end="" if not args.json else "\n")
    return 0


def _recipes(args: argparse.Namespace) -> int:
    if args.reference:
        from .reference import recipe_reference

        print(recipe_reference(), end="")
        return 0
    from .loader import packaged_recipes

    print("\n".join(packaged_recipes()))
    return 0


def _metrics(args: argparse.Namespace) -> int:
    print(metrics_table(args.run, args.stage))
    return 0


def _front(args: argparse.Namespace) -> int:
    from .commands.front import run_front

    return run_front(args)


COMMANDS = {  # `run` is handled apart: it needs the raw command line (torchrun relaunches it)
    "validate": _validate,
    "ablate": _ablate,
    "bench": _bench,
    "baseline": _baseline,
    "report": _report,
    "export": _deploy,
    "predict": _deploy,
    "loadtest": _deploy,
    "serve": _deploy,
    "metrics": _metrics,
    "evaluate": _evaluate,
    "doctor": _doctor,
    "recipes": _recipes,
    "front": _front,
}


def _dispatch(args: argparse.Namespace, argv: list[str]) -> int:
    """Run the chosen command; its exceptions are ``main``'s to turn into one line."""
    register_stages()
    if args.command == "run":
        return _run(args, argv)
    return COMMANDS[args.command](args)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mtkd`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    # texts after options (`predict B --task t TEXT`) are left over by argparse's one-pass positionals
    args, extra = parser.parse_known_args(argv)
    if extra and (getattr(args, "texts", None) is None or any(x.startswith("-") for x in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        args.texts += extra
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S"
    )
    for noisy in ("transformers", "datasets", "urllib3", "filelock", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return _dispatch(args, argv)
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
            return _bug_report(e, args.verbose)
        print(
            f"mtkd: error: {e.filename or 'a file'}: {e.strerror} ({errno.errorcode[e.errno]}); the files written "
            "before it are intact, the unfinished ones are not taken as done",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    except Exception as e:  # anything else a user can reach is a bug in mtkd: say so in one line
        return _bug_report(e, args.verbose)


def _bug_report(error: BaseException, verbose: bool) -> int:
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

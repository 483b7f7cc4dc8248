"""Run a recipe's stages in order; each writes ``<run>/<stage>/`` with a ``stage.json``.

A stage is skipped when its ``stage.json`` hash (settings + inputs) matches and its files
verify against their checksums. A stage builds its output in ``<stage>.incomplete/`` and is
renamed into place only when it succeeds, so a half-done stage is never trusted.
"""

from __future__ import annotations

import logging
import shutil
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel

from distill.errors import ArtifactError, RecipeError
from distill.io import (
    directory_checksums,
    read_json,
    replace_directory,
    stable_hash,
    verify_checksums,
    write_json,
    write_yaml,
)
from distill.registry import Registry
from distill.training import distributed

from .schema import Recipe
from .stage_record import STAGE_FILE, StageRecord, recorded_hash

log = logging.getLogger("mtkd")
PENDING_FILE = "pending.json"  # the hash an incomplete stage is being built for
RECIPE_FILE = "recipe.yaml"  # the validated recipe (overrides applied) of the latest run
STAGES: Registry[type[Stage]] = Registry("stage")
# The data flow of ../shared/DESIGN.md; a stage runs after every stage listed before it.
PIPELINE = ("tokenizer", "pretrain", "teacher", "general", "distill", "prune", "quantize", "compile", "bench", "export")
ORDER: list[str] = []  # registered stages in pipeline order


def register_stage(name: str):
    """Register a stage class under ``name``; stages run in ``PIPELINE`` order."""

    if name not in PIPELINE:
        raise ValueError(f"stage {name!r} has no place in the pipeline {PIPELINE}")

    def add(cls: type[Stage]) -> type[Stage]:
        cls.name = name
        ORDER.append(name)
        ORDER.sort(key=PIPELINE.index)  # import order must not decide run order
        return STAGES.register(name)(cls)

    return add


@dataclass
class Context:
    """What a running stage can see: the recipe, where to write, its inputs, shared caches."""

    recipe: Recipe
    run_dir: Path
    out: Path  # the stage's (incomplete) output directory
    device: torch.device
    resume: bool
    cache: dict[str, Any] = field(default_factory=dict)

    def input(self, stage: str) -> Path:
        return self.run_dir / stage


class Stage(ABC):
    name: str
    needs: tuple[str, ...] = ()
    version: int = 1  # bump when the stage's behaviour changes, so old outputs are not trusted
    #: every torchrun process runs it (data-parallel training); otherwise rank 0 runs it alone.
    #: A distributed stage writes files only on rank 0.
    distributed: bool = False

    def needs_for(self, recipe: Recipe) -> tuple[str, ...]:
        """The stages whose outputs this one reads for ``recipe`` (default: ``needs``)."""
        return self.needs

    def skip_reason(self, recipe: Recipe) -> str | None:
        """Why this stage does not apply to ``recipe`` (None when it runs)."""
        return None

    @abstractmethod
    def settings(self, recipe: Recipe) -> dict[str, Any]:
        """Everything that changes this stage's output; hashed for up-to-date checks."""

    @abstractmethod
    def run(self, ctx: Context) -> dict[str, Any]:
        """Do the work into ``ctx.out``; return a summary stored in ``stage.json``."""


def settings_of(section: BaseModel, exclude: set[str] | None = None) -> dict[str, Any]:
    """The values a recipe section sets, for hashing: defaults left out, so adding a setting with a
    default to the schema does not invalidate every existing run; a renamed setting keeps its old name here
    (its serialization alias), so runs made before the rename stay up to date."""
    return section.model_dump(mode="json", exclude_defaults=True, exclude=exclude, by_alias=True)


def stage_hash(stage: Stage, recipe: Recipe, run_dir: Path) -> str:
    inputs = {}
    for up in stage.needs_for(recipe):
        inputs[up] = recorded_hash(run_dir / up)
    payload = {"stage": stage.name, "settings": stage.settings(recipe), "inputs": inputs}
    if stage.version != 1:  # version 1 hashes stay what they were before stages had versions
        payload["version"] = stage.version
    return stable_hash(payload)


def up_to_date(stage_dir: Path, expected: str) -> bool:
    """True when the stage output exists, has the expected hash and its files verify."""
    if not (stage_dir / STAGE_FILE).is_file():
        return False
    try:
        record = StageRecord.read(stage_dir)
        if record.hash != expected:
            return False
        verify_checksums(stage_dir, record.files)
    except ArtifactError as e:
        log.warning("%s: %s; running it again", stage_dir.name, e)
        return False
    return True


def plan(recipe: Recipe, stages: list[str] | None) -> list[str]:
    """The stages to consider, in pipeline order: the requested ones plus what they need."""
    if stages:
        unknown = [s for s in stages if s not in STAGES]
        if unknown:
            raise RecipeError(f"--stages: unknown stage {unknown[0]!r}; stages are: {', '.join(ORDER)}")
    wanted = set(stages or ORDER)
    frontier = list(wanted)
    while frontier:
        for up in STAGES.get(frontier.pop())().needs_for(recipe):
            if up not in wanted:
                wanted.add(up)
                frontier.append(up)
    return [s for s in ORDER if s in wanted]


def prepare_work_dir(name: str, work: Path, expected: str, resume: bool) -> None:
    """Empty ``work`` unless resuming a run of the very same settings (checkpoints must match)."""
    pending = work / PENDING_FILE
    if work.exists():
        same = pending.is_file() and read_json(pending).get("hash") == expected
        has_checkpoints = any(work.glob("**/checkpoints/*"))
        if resume and not same and has_checkpoints:
            log.warning("%s: checkpoints were made with other settings; starting over", name)
        elif not resume and has_checkpoints:
            log.info("%s: found checkpoints of an interrupted run; starting over (pass --resume to continue)", name)
        if not (resume and same):
            shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    write_json(pending, {"hash": expected})


def _discard(work: Path, keep_checkpoints: bool) -> None:
    if work.exists() and not (keep_checkpoints and any(work.glob("**/checkpoints/*"))):
        shutil.rmtree(work)


def run_pipeline(
    recipe: Recipe,
    run_dir: Path,
    stages: list[str] | None = None,
    device: str = "auto",
    resume: bool = False,
    outputs: dict[str, str] | None = None,
    save_recipe: bool = True,
) -> dict[str, StageRecord]:
    """Run (or skip when up to date) the selected stages; returns each stage's record (``stage.json``).

    ``outputs`` moves a stage's directory (relative to ``run_dir``), e.g. ablation variants of
    ``distill`` that share one teacher; stages still read their inputs from ``run_dir/<stage>``.
    """
    outputs = outputs or {}
    order = plan(recipe, stages)
    dev = torch.device(
        "cuda" if device == "auto" and torch.cuda.is_available() else "cpu" if device == "auto" else device
    )
    created = [d for d in (run_dir, *run_dir.parents) if not d.exists()]  # removed again if left empty
    run_dir.mkdir(parents=True, exist_ok=True)
    cache: dict[str, Any] = {}
    done: dict[str, StageRecord] = {}
    try:
        for name in order:
            stage = STAGES.get(name)()
            reason = stage.skip_reason(recipe)
            if reason:
                log.info("%s: skipped: %s", name, reason)
                done[name] = StageRecord(stage=name, skipped=reason)
                continue
            expected = stage_hash(stage, recipe, run_dir)
            final = run_dir / outputs.get(name, name)
            if distributed.broadcast(up_to_date(final, expected) if distributed.is_main() else None):
                log.info("%s: up to date (%s), skipped", name, final)
                done[name] = StageRecord.read(final)
                continue
            ctx = Context(recipe, run_dir, final.with_name(f"{final.name}.incomplete"), dev, resume, cache)
            if not distributed.is_main():  # a helper rank: join the training, write nothing
                _help_rank(stage, ctx)
                continue
            done[name] = _run_stage(stage, ctx, final, expected)
            if save_recipe:  # what produced this run, for later commands (bench, export)
                write_yaml(run_dir / RECIPE_FILE, recipe.model_dump(mode="json"))
            distributed.barrier()
    except BaseException:
        for d in created:  # innermost first: a failed first run leaves no empty directories behind
            if d.exists() and not any(d.iterdir()):
                d.rmdir()
        raise
    return done


def _help_rank(stage: Stage, ctx: Context) -> None:
    """A rank other than 0 joins a distributed stage's training and writes nothing."""
    if stage.distributed:
        distributed.barrier()  # rank 0 has prepared the work directory
        stage.run(ctx)
    distributed.barrier()


def _run_stage(stage: Stage, ctx: Context, final: Path, expected: str) -> StageRecord:
    """Build the stage in its ``.incomplete`` directory, then rename it into place with its ``stage.json``."""
    name, work = stage.name, ctx.out
    prepare_work_dir(name, work, expected, ctx.resume)
    if stage.distributed:
        distributed.barrier()
    log.info("%s: running -> %s", name, final)
    started = time.perf_counter()
    try:
        summary = stage.run(ctx)
    except BaseException:
        _discard(work, keep_checkpoints=True)
        raise
    record = StageRecord(
        stage=name,
        hash=expected,
        recipe=ctx.recipe.name,
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
        seconds=round(time.perf_counter() - started, 2),
        device=str(ctx.device),
        summary=summary,
        files=directory_checksums(work, skip=(STAGE_FILE, PENDING_FILE)),
    )
    (work / PENDING_FILE).unlink()
    record.write(work)
    replace_directory(work, final)
    log.info("%s: done in %.0f s", name, record.seconds)
    return record

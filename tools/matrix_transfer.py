"""The reliability matrix's row for transfer scoring: the teacher scoring a transfer set is killed midway, the
same command runs again, and the scores it ends with equal an uninterrupted run's, tensor for tensor; the
chunks the killed run wrote are kept, not scored again."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from distill.data.builtin import generate_table
from distill.data.builtin.noise import Noise
from distill.io import read_json

from .matrix import Outcome, mtkd_process, write_recipe
from .matrix_cases import base_recipe

CHUNK_ROWS = 8  # many small chunks: a kill lands between two of them


def transfer_recipe(titles: Path) -> dict[str, Any]:
    """The base recipe whose category head distils with a transfer set (a file of titles and the rows its cap
    left out), logits only: the teacher's answers are cached, so the transfer set is scored into the store."""
    recipe = base_recipe()
    recipe["tasks"]["category"]["max_train"] = 120
    recipe["student"]["distill"] = {
        "logits": {},
        "transfer": {
            "tasks": {"category": {"files": [{"path": str(titles), "text": "title"}], "unused_rows": True}},
            "chunk_rows": CHUNK_ROWS,
        },
    }
    return recipe


def _store(run: Path) -> tuple[Path | None, int]:
    """The run's transfer store and how many chunks it holds."""
    found = next(iter((run / "cache").glob("transfer-*")), None) if (run / "cache").is_dir() else None
    return found, len(list(found.glob("category-*.safetensors"))) if found else 0


def _scores(store: Path) -> torch.Tensor:
    return torch.cat([load_file(p)["scores"] for p in sorted(store.glob("category-*.safetensors"))])


def killed_transfer_scoring(root: Path, tries: int = 6, timeout: float = 300) -> Outcome:
    """SIGKILL ``mtkd run`` once the transfer store holds a chunk and before it holds all, run it again, and
    compare the store with an uninterrupted run's."""
    folder = root / "transfer"
    folder.mkdir(parents=True, exist_ok=True)
    titles = folder / "titles.jsonl"
    rows = generate_table("products", 3000, 7, Noise())
    titles.write_text("".join(json.dumps({"title": row["title"]}) + "\n" for row in rows), encoding="utf-8")
    path = write_recipe(folder / "recipe.yaml", transfer_recipe(titles))
    reference = mtkd_process(["run", str(path), "--out", str(folder / "reference")])
    if reference.wait(timeout) != 0:
        failed = reference.stdout.read()[-300:]
        return Outcome("fault", "transfer scoring", False, f"uninterrupted run failed: {failed}")
    ref_store, total = _store(folder / "reference")
    for attempt in range(1, tries + 1):
        run = folder / f"run-{attempt}"
        victim = mtkd_process(["run", str(path), "--out", str(run)])
        deadline = time.time() + timeout
        while _store(run)[1] == 0 and victim.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        done = _store(run)[1]
        if 0 < done < total:
            break
    else:
        return Outcome("fault", "transfer scoring", False, f"no kill landed inside scoring in {tries} tries")
    again = mtkd_process(["run", str(path), "--out", str(run)])
    log = again.communicate(timeout=timeout)[0]
    if again.returncode != 0:
        return Outcome("fault", "transfer scoring", False, f"re-run failed: {log[-300:]}")
    store, _ = _store(run)
    same = store is not None and torch.equal(_scores(store), _scores(ref_store))
    kept = read_json(store / "manifest.json")["rows"]["category"] if store else 0
    detail = (
        f"killed after {done} of {total} chunks (try {attempt}); the re-run scored the rest and its {kept} rows of "
        + ("scores equal the uninterrupted run's" if same else "scores differ from the uninterrupted run's")
    )
    return Outcome("fault", "transfer scoring", same and "already scored" in log, detail)

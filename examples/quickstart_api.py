"""The quickstart through the Python API alone: train a multi-task teacher on the built-in e-commerce
corpus, distil it into a student a fifth its size, export and quantize the student, and benchmark
teacher and student side by side. No recipe, no CLI: each step is one call.

    python examples/quickstart_api.py                 # the quickstart's shapes, ~15 min on 2 cores
    python examples/quickstart_api.py --tiny          # seconds: small tables and models (what CI runs)
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from benchmarks import BenchConfig, bench
from compress import QuantizeConfig, quantize
from distill import (
    DataConfig,
    DistillConfig,
    HiddenKD,
    LogitsKD,
    ModelConfig,
    RelationKD,
    StudentModelConfig,
    TaskConfig,
    TokenizerConfig,
    TrainConfig,
    Workspace,
    build_tokenizer,
    distil,
    load_tasks,
    train_teacher,
)


def quickstart_tasks(tiny: bool) -> dict:
    """Four heads on the built-in corpus: a category, query–title relevance, review sentiment, attribute tags."""
    source = {"format": "builtin", **({"size": 300} if tiny else {})}  # 300 generated rows per table, or the default
    return load_tasks(
        {
            "category": TaskConfig(type="classification", source=source, text="title", label="category"),
            "relevance": TaskConfig(
                type="pair_classification", source=source, text="query", text_pair="title", label="esci"
            ),
            "sentiment": TaskConfig(type="classification", source=source, text="review", label="sentiment"),
            "attributes": TaskConfig(type="token_classification", source=source),
        },
        seed=0,
        data=DataConfig(),
    )


def main(out: Path, tiny: bool) -> dict:
    tasks = quickstart_tasks(tiny)
    tokenizer = build_tokenizer(TokenizerConfig(train="wordpiece", vocab_size=600 if tiny else 8000), tasks)
    max_len = 32 if tiny else 64

    # 1. the teacher: one shared encoder, one head per task, trained on every task at once
    shape = dict(layers=1, hidden=32, heads=2, intermediate=64) if tiny else dict(layers=4, hidden=256, heads=4)
    schedule = dict(batch_size=32, max_len=max_len, sampling="temperature", temperature=2.0)
    teacher_train = TrainConfig(epochs=3, lr=3e-3 if tiny else 5e-4, **schedule)
    work = Workspace(tasks, tokenizer, out / "teacher", seed=0)  # what every step shares: data, folder, device, seed
    teacher = train_teacher(work, ModelConfig(**shape), teacher_train)

    # 2. the student: narrower and shallower, taught every head at once (logits, hidden states, Q/K/V relations)
    student_shape = (
        dict(layers=1, hidden=16, heads=2, intermediate=32)
        if tiny
        else dict(layers=2, hidden=128, heads=2, intermediate=512, max_position=128)
    )
    kd = DistillConfig(logits=LogitsKD(temperature=2.0), hidden=HiddenKD(embeddings=True), relation=RelationKD(heads=2))
    student_train = TrainConfig(epochs=3 if tiny else 6, lr=3e-3 if tiny else 1e-3, **schedule)
    student = distil(teacher.model, StudentModelConfig(**student_shape), work.at(out / "student"), kd, student_train)
    print("retention per task:", {t: round(r, 4) for t, r in student.retention.items()})

    # 3. ONNX export, fusions, and two INT8 presets, each scored per task through ONNX Runtime
    quantized = quantize(
        student.path,
        out / "onnx",
        tasks,
        QuantizeConfig(presets=["dynamic-int8", "static-int8"]),
        name="student",
        max_len=max_len,
    )
    for name, row in quantized.items():
        print(f"{name}: {row['precision']}, worst drop vs FP32 {max(row['drop_vs_fp32'].values()):.2%}")

    # 4. teacher and every student artifact timed side by side, and scored through the runtime that runs them
    grid = BenchConfig(
        batch_sizes=[1], seq_lens=[max_len], runtimes=["torch", "onnxruntime"], precisions=["fp32", "int8"]
    )
    if tiny:
        grid = grid.model_copy(update={"warmup": 1, "iters": 3, "rounds": 1})
    artifacts = {"teacher": teacher.path, "student": student.path, **{n: out / "onnx" / n for n in quantized}}
    summary = bench(artifacts, grid, out / "bench", tasks=tasks, max_len=max_len)
    for row in summary["results"]:
        print(f"{row['artifact']} {row['runtime']} {row['precision']}: {row['latency_ms']['p50']:.2f} ms at batch 1")
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/quickstart-api"))
    parser.add_argument("--tiny", action="store_true", help="small tables and models: the whole path in seconds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    main(args.out, args.tiny)

"""A teacher's label order against its task's: the permutation that puts its outputs in task order.

A fine-tuned checkpoint names its classes in ``id2label``; a file of precomputed outputs lists them
with its rows. Either must name exactly the task's labels (after an optional ``label_map`` from the
teacher's names to the task's, where null drops a teacher's label: its column is left out and the
softmax renormalises over the rest); anything else is a ``TeacherMismatch`` that names the labels on each
side, because a silently shifted column would teach the student the wrong class.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ..errors import TeacherMismatch

GENERIC = re.compile(r"^LABEL_\d+$")  # what transformers writes when a model was saved without id2label


def label_order(
    where: str,
    teacher_labels: Sequence[str],
    task_labels: Sequence[str],
    label_map: Mapping[str, str | None] | None = None,
) -> list[int]:
    """For each task label (in task order), the column of the teacher's outputs that holds it."""
    label_map = dict(label_map or {})
    unused = sorted(set(label_map) - set(teacher_labels))
    if unused:
        raise TeacherMismatch(
            f"{where}: label_map names {', '.join(map(repr, unused[:5]))}, which the teacher does not have "
            f"(its labels: {_listing(teacher_labels)})"
        )
    mapped = [label_map.get(name, name) for name in teacher_labels]  # None: a column the task does not use
    repeated = sorted({name for name in mapped if name is not None and mapped.count(name) > 1})
    if repeated:
        raise TeacherMismatch(f"{where}: two teacher labels map to {repeated[0]!r}; each column needs its own label")
    only_teacher = [name for name in mapped if name is not None and name not in set(task_labels)]
    only_task = [name for name in task_labels if name not in set(mapped)]
    if only_teacher or only_task:
        hint = (
            " (the checkpoint was saved without id2label: map LABEL_0… to the task's labels with teacher.label_maps)"
            if any(GENERIC.match(n) for n in teacher_labels)
            else "; map the teacher's names to the task's with teacher.label_maps (null drops a teacher's label)"
        )
        raise TeacherMismatch(
            f"{where}: the teacher's labels differ from the task's: only the teacher has "
            f"{_listing(only_teacher) or 'none'}; only the data has {_listing(only_task) or 'none'}{hint}"
        )
    column = {name: i for i, name in enumerate(mapped)}
    return [column[name] for name in task_labels]


def _listing(names: Sequence[str], most: int = 8) -> str:
    shown = ", ".join(repr(n) for n in list(names)[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")

"""The recipe reference is generated from the schema, so it cannot drift from what the validator accepts."""

from __future__ import annotations

from pathlib import Path

from recipes.cli import main
from recipes.reference import recipe_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "recipe-reference.md"


def test_the_committed_reference_is_what_the_schema_generates(capsys):
    assert main(["recipes", "--reference"]) == 0
    printed = capsys.readouterr().out
    assert printed == recipe_reference()
    assert DOC.read_text(encoding="utf-8") == printed, "regenerate: mtkd recipes --reference > docs/recipe-reference.md"


def test_every_key_of_every_section_is_documented_with_its_meaning():
    rows = [line for line in recipe_reference().splitlines() if line.startswith("| `")]
    assert len(rows) > 150  # every section of the schema, not only the top level
    undocumented = [row.split("|")[1].strip() for row in rows if row.rstrip().endswith("|  |")]
    assert undocumented == []
    for section in ("`student.distill.logits`", "`quantize.calibration`", "`tasks.<name>.source`", "`bench`"):
        assert f"## {section} — " in recipe_reference(), section

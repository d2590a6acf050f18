"""The README's list of the language's functions is the op table's (ops.program_functions)."""
import re
from pathlib import Path

from chainrule import ops

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_lists_the_functions_of_the_op_table():
    text = README.read_text(encoding="utf-8")
    found = re.findall(r"the op table's functions\s*\(`([^`]*)`\)", text)
    assert len(found) == 1, "the README should list the op table's functions once, as (`exp log …`)"
    want = " ".join(ops.program_functions())
    assert found[0] == want, f"README lists `{found[0]}`; the op table has `{want}`: update the README"


def test_readme_has_the_recipe_for_a_new_op():
    text = README.read_text(encoding="utf-8")
    recipe = text[text.index("### A new op"):]
    for field in ("method=", "operator=", "lang=True", "forms", "ops.register(row)", "tests/test_ops.py"):
        assert field in recipe, field

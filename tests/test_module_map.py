"""The module map of DESIGN.md, read from the imports: gradio only under ui/page/, PIL only under
ui/imaging/, openai and httpx only under ui/endpoint/, sqlite3 and database drivers only under
ui/store/. A new import in the wrong place fails here, so the map cannot drift silently."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

UI = Path(__file__).resolve().parent.parent / "ui"
ONLY_UNDER = {  # top-level package imported → the only folder of ui/ that may import it
    "gradio": "page", "gradio_client": "page", "starlette": "page", "fastapi": "page",
    "PIL": "imaging", "pillow_heif": "imaging",
    "openai": "endpoint", "httpx": "endpoint", "httpx2": "endpoint", "anyio": "endpoint",
    "sqlite3": "store", "psycopg": "store", "sqlalchemy": "store",
}


def imports(path: Path) -> set[str]:
    """The top-level names of every module `path` imports, at any depth of its code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


MODULES = sorted(UI.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(UI)))
def test_each_library_is_imported_only_where_the_map_says(path: Path) -> None:
    folder = path.relative_to(UI).parts[0] if len(path.relative_to(UI).parts) > 1 else ""
    wrong = {name for name in imports(path) if name in ONLY_UNDER and ONLY_UNDER[name] != folder}
    assert not wrong, f"ui/{path.relative_to(UI)} imports {sorted(wrong)}; see DESIGN.md's module map"


def test_the_rule_sees_an_import_in_the_wrong_place(tmp_path: Path) -> None:
    stray = tmp_path / "stray.py"
    stray.write_text("def f():\n    import gradio as gr\n    from PIL import Image\n")
    assert {"gradio", "PIL"} <= imports(stray)


def test_the_database_drivers_are_imported_by_the_store_and_nowhere_else() -> None:
    users = {path.relative_to(UI) for path in MODULES if imports(path) & {"sqlite3", "psycopg"}}
    assert {Path("store/db.py")} <= users  # the rule above watches real imports, not none
    assert all(path.parts[0] == "store" for path in users), users

"""The outbox has one owner: outside inquiry.outbox no module names its table or rows, nor
wakes its workers; everyone else calls the owner."""

from __future__ import annotations

import ast
from pathlib import Path

import inquiry

PACKAGE = Path(inquiry.__file__).parent
OWNER = PACKAGE / "outbox"
# Where the table is defined, and the schema's history.
EXEMPT = (PACKAGE / "models.py", PACKAGE / "migrations")
NAMES = frozenset({"outbox_table", "OutboxMessage"})


def trespasses(path: Path) -> list[str]:
    """Names of the outbox's table and rows, and NOTIFY statements, used in this module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.alias) and node.name in NAMES:
            found.append(node.name)
        elif isinstance(node, ast.Name) and node.id in NAMES:
            found.append(node.id)
        elif isinstance(node, ast.Attribute) and node.attr in NAMES:
            found.append(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.lstrip().upper().startswith("NOTIFY "):
                found.append(node.value.strip())
    return found


def test_no_module_outside_the_outbox_touches_its_rows() -> None:
    outside = [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if not path.is_relative_to(OWNER) and not any(path.is_relative_to(e) for e in EXEMPT)
    ]
    assert len(outside) > 50
    found = {str(path.relative_to(PACKAGE)): trespasses(path) for path in outside}
    assert {module: names for module, names in found.items() if names} == {}


def test_the_check_sees_the_owner_at_work() -> None:
    assert {"outbox_table", "NOTIFY"} <= {
        name.split(" ")[0] for name in trespasses(OWNER / "queueing.py")
    }

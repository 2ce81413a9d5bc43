"""The parts of the package import each other one way only.

A part is a subpackage (intake, web, triage, outbox, notify, lifecycle, callbacks, staff,
migrations) or a module at the package root. Every `import inquiry.…` and `from inquiry.…
import …` counts, at the top of a module or inside a function (a deferred import is still a
dependency).

The direction that is allowed, from the importer to what it imports:

- `app`, `cli` and `__main__` wire the service together: they may import any part, and only
  they import each other.
- The other root modules are shared by every part (configuration, tables, errors and their
  HTTP shape, database sessions, authentication, the audit log, request dependencies, the
  normal form of contact details, the check of query parameters): they import one another
  and no subpackage.
- Between subpackages: web → intake (the hosted form submits through intake); intake →
  callbacks, outbox, triage (an inquiry is stored with its triage, its callback task and the
  mail it owes); staff → callbacks (staff features move callback tasks only through the
  callbacks' state machine), lifecycle (and inquiries only through the lifecycle), outbox
  (a triage override moves unsent mail, a release from quarantine owes an acknowledgement),
  triage; callbacks → lifecycle (a task's outcome moves its inquiry), outbox (an unreachable
  visitor's email), triage; notify → outbox (the worker's claims, the NOTIFY channel),
  intake's writer (the purge of expired idempotency keys) and callbacks (the acknowledgement
  promises the channel of the task the inquiry owes); outbox → triage (the topic decides the
  alerts); notify → privacy (the housekeeping's retention purge); privacy → callbacks,
  lifecycle, outbox, staff (an erasure closes the inquiry and cancels its call and mail
  through their owners, and removes staff notes). The lifecycle imports only the shared root
  modules.
"""

from __future__ import annotations

import ast
from collections import defaultdict, deque
from pathlib import Path

import inquiry

PACKAGE = Path(inquiry.__file__).parent
ENTRY_POINTS = frozenset({"inquiry.app", "inquiry.cli", "inquiry.__main__"})

# Imports the graph leaves out, each with why it may stand.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def modules() -> dict[str, Path]:
    """Every module of the package by its dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        names = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if names[-1] == "__init__":
            names = names[:-1]
        found[".".join(names)] = path
    return found


def imported_by(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that this module imports, wherever in it the import stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: package.count(".") + 2 - node.level]
                base = ".".join([*anchor, base] if base else anchor)
            # `from inquiry.staff import audit` imports a module; `from inquiry import x` may not.
            targets.update(
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            )
    return {target for target in targets if target in known and target != name}


def part_of(module: str) -> str:
    """The subpackage a module belongs to, or the root module itself."""
    names = module.split(".")
    if len(names) > 1 and (PACKAGE / names[1] / "__init__.py").exists():
        return ".".join(names[:2])
    return module


def part_imports() -> dict[tuple[str, str], list[str]]:
    """(importing part, imported part) → the module imports behind that edge."""
    known = modules()
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, path in known.items():
        for target in sorted(imported_by(name, path, known)):
            if (name, target) in EXCEPTIONS:
                continue
            edge = (part_of(name), part_of(target))
            if edge[0] != edge[1]:
                edges[edge].append(f"{name} imports {target}")
    return edges


def cycles(edges: dict[tuple[str, str], list[str]]) -> list[tuple[str, ...]]:
    """The shortest cycle through each part that is on one, each cycle once."""
    successors: dict[str, set[str]] = defaultdict(set)
    for source, target in edges:
        successors[source].add(target)
    found: set[tuple[str, ...]] = set()
    for start in sorted(successors):
        came_from: dict[str, str] = {}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            if start in successors[node]:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                path.reverse()
                turn = path.index(min(path))
                found.add(tuple(path[turn:] + path[:turn]))
                break
            for following in sorted(successors[node] - came_from.keys()):
                came_from[following] = node
                queue.append(following)
    return sorted(found, key=lambda cycle: (len(cycle), cycle))


def described(cycle: tuple[str, ...], edges: dict[tuple[str, str], list[str]]) -> str:
    lines = [" → ".join((*cycle, cycle[0]))]
    for source, target in zip(cycle, (*cycle[1:], cycle[0]), strict=True):
        lines += [f"    {why}" for why in edges[(source, target)]]
    return "\n".join(lines)


def test_no_part_imports_itself_through_another() -> None:
    edges = part_imports()
    found = cycles(edges)
    assert not found, "import cycles between parts:\n" + "\n".join(
        described(cycle, edges) for cycle in found
    )


def is_subpackage(part: str) -> bool:
    return (PACKAGE / part.removeprefix("inquiry.") / "__init__.py").exists()


def test_shared_root_modules_import_no_subpackage_and_nothing_imports_the_entry_points() -> None:
    wrong: list[str] = []
    for (source, target), why in part_imports().items():
        shared = source not in ENTRY_POINTS and not is_subpackage(source)
        if (shared and is_subpackage(target)) or (
            target in ENTRY_POINTS and source not in ENTRY_POINTS
        ):
            wrong += why
    assert not wrong, "imports against the direction:\n" + "\n".join(wrong)


def test_the_graph_sees_imports_inside_functions_and_relative_ones(tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    module.write_text(
        "def later():\n"
        "    from inquiry.staff import service\n"
        "    import inquiry.notify.worker\n"
        "from inquiry import models, __version__\n"
        "from . import deps\n"
    )
    known = {**modules(), "inquiry.probe": module}
    assert imported_by("inquiry.probe", module, known) == {
        "inquiry.staff.service",
        "inquiry.notify.worker",
        "inquiry.models",
        "inquiry",
        "inquiry.deps",
    }


def test_no_test_module_imports_another() -> None:
    """Shared test helpers live in conftest and fixtures modules, never in a test module."""
    tests = Path(__file__).resolve().parent
    offenders = []
    for path in sorted(tests.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.rsplit(".", 1)[-1].startswith("test_"):
                    offenders.append(f"{path.relative_to(tests)} imports {node.module}")
    assert offenders == []


def test_the_lifecycle_imports_only_the_shared_root_modules() -> None:
    """Callbacks and staff both move inquiries through it: it can import neither."""
    wrong = [
        why
        for (source, target), why in part_imports().items()
        if source == "inquiry.lifecycle" and (is_subpackage(target) or target in ENTRY_POINTS)
    ]
    assert not wrong, "\n".join(line for lines in wrong for line in lines)
    assert ("inquiry.callbacks", "inquiry.lifecycle") in part_imports()

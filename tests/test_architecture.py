"""The shape of the package, as rules that run: stages import one way, each third-party framework
stays behind the one edge or engine that owns it, no import cycles, modules of a readable size."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "searchsvc"
# Lower layers never import higher ones. Within a layer, packages may import each other only as
# long as no cycle of modules forms (checked apart).
LAYERS = {
    "analysis": 0,
    "ingest": 1,
    "search": 2,
    "engine": 3, "backends.typesense": 3, "backends.base": 3, "stats": 3,
    "backends": 4,
    "watch": 5, "web": 5, "serving": 6, "cli": 7,
}
# Who may import a framework or service client at all.
OWNERS = {
    "whoosh": ("searchsvc.engine", "searchsvc.backends.whoosh"),
    "flask": ("searchsvc.web",),
    "werkzeug": ("searchsvc.web",),
    "click": ("searchsvc.cli",),
    "typesense": ("searchsvc.backends.typesense",),
    "waitress": ("searchsvc.serving",),
    "watchfiles": ("searchsvc.watch",),
}
MAX_LINES = 360  # "modules under ~300 lines": permalinks.py (three generators) is the largest


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports_of(path: Path, name: str) -> list[tuple[str, int]]:
    """Every module imported (at any depth: function-local and TYPE_CHECKING imports count too)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                base = ".".join(name.split(".")[: -node.level] + [node.module])
            out.append((base, node.lineno))
    return out


def layer(module: str) -> tuple[str, int]:
    rest = module.removeprefix("searchsvc.")
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if rest == prefix or rest.startswith(prefix + "."):
            return prefix, LAYERS[prefix]
    raise AssertionError(f"{module} belongs to no layer: add its package to LAYERS")


def owned(module: str, owners: tuple[str, ...]) -> bool:
    return any(module == o or module.startswith(o + ".") for o in owners)


MODULES = modules()
GRAPH = {m: [(i, line) for i, line in imports_of(p, m) if i.startswith("searchsvc")] for m, p in MODULES.items()}


def test_every_module_is_in_a_layer_and_imports_only_downwards() -> None:
    wrong = []
    for module, targets in GRAPH.items():
        if module == "searchsvc":
            continue
        name, level = layer(module)
        for target, line in targets:
            target = next((m for m in (target, target.rsplit(".", 1)[0]) if m in MODULES), target)
            if target == "searchsvc":
                continue
            other, other_level = layer(target)
            if other_level > level or (other_level == level and other != name and level >= 5):
                wrong.append(f"{MODULES[module].relative_to(PACKAGE.parent)}:{line} ({name}) imports {target} ({other})")
    assert wrong == []


@pytest.mark.parametrize("framework", sorted(OWNERS))
def test_frameworks_stay_behind_their_owner(framework: str) -> None:
    wrong = [f"{MODULES[m].relative_to(PACKAGE.parent)}:{line}" for m, path in MODULES.items()
             for target, line in imports_of(path, m)
             if target.split(".")[0] == framework and not owned(m, OWNERS[framework])]
    assert wrong == []


def test_nothing_but_the_edges_that_start_it_imports_web_or_cli() -> None:
    def edge(module: str) -> bool:
        return any(module == e or module.startswith(e + ".") for e in ("searchsvc.cli", "searchsvc.web"))

    importers = {m for m, targets in GRAPH.items() for t, _ in targets if edge(t) and not edge(m)}
    assert importers <= {"searchsvc.serving"}


def test_no_import_cycles() -> None:
    edges = {m: {t if t in MODULES else t.rsplit(".", 1)[0] for t, _ in targets} & MODULES.keys() - {m, "searchsvc"}
             for m, targets in GRAPH.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert cycles == []


def test_every_package_says_its_stage_and_modules_stay_readable() -> None:
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"{module} has no docstring naming its stage"
        assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES, module


def test_the_rules_catch_a_violation(tmp_path: Path) -> None:
    """The checks above must be able to fail: a module written the wrong way round is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("from searchsvc.web import create_app\nimport whoosh\n", encoding="utf-8")
    found = [t for t, _ in imports_of(bad, "searchsvc.search.bad")]
    assert layer("searchsvc.web")[1] > layer("searchsvc.search.bad")[1] and "searchsvc.web" in found
    assert not owned("searchsvc.search.bad", OWNERS["whoosh"]) and "whoosh" in found

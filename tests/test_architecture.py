"""The import graph of the package against the declared stage order (`benchmark.STAGES`): no
module imports a stage to its right, and no modules import one another in a cycle (both with
function-level imports included: a cycle through one is a tie all the same, only deferred)."""
from __future__ import annotations

import ast
from pathlib import Path

import benchmark

ROOT = Path(__file__).resolve().parents[1]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every name of the project that one file imports, anywhere in it."""
    tree = ast.parse(path.read_text(), str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    every = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names]  # a name, or a submodule of base
        else:
            continue
        every |= {n for n in names if n.split(".")[0] in ("benchmark", "methods")}
    return every


def _files():
    """Every module of the project but the root package (it holds only `STAGES`)."""
    for folder in ("benchmark", "methods"):
        yield from (p for p in sorted((ROOT / folder).rglob("*.py"))
                    if p != ROOT / "benchmark" / "__init__.py")


def _inside(module: str, package: str) -> bool:
    """Whether `module` is `package` or one of its submodules."""
    return module == package or module.startswith(package + ".")


def _stage(module: str) -> int:
    best = max(((len(prefix), i) for i, stage in enumerate(benchmark.STAGES) for prefix in stage
                if _inside(module, prefix)), default=None)
    assert best is not None, f"{module} belongs to no stage of benchmark.STAGES"
    return best[1]


def _known(name: str, modules: set[str]) -> str | None:
    """The project module an import refers to (`pkg.mod.func` -> `pkg.mod`), if any."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def test_every_module_has_a_stage():
    for path in _files():
        _stage(_module_name(path))


def test_no_module_imports_a_stage_to_its_right():
    modules = {_module_name(p) for p in _files()}
    wrong = []
    for path in _files():
        source = _module_name(path)
        for name in _imports(path):
            target = _known(name, modules)
            if target and _stage(target) > _stage(source):
                wrong.append(f"{source} (stage {_stage(source)}) imports {target} (stage {_stage(target)})")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_no_import_cycle():
    modules = {_module_name(p) for p in _files()}
    graph = {_module_name(p): {t for n in _imports(p) if (t := _known(n, modules))} - {_module_name(p)}
             for p in _files()}
    done, path = set(), []

    def visit(node):
        if node in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(node):] + [node]))
        if node in done:
            return
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt)
        path.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)


RESULT_READERS = ("benchmark.results.tables", "benchmark.results.plots",
                  "benchmark.results.leaderboard", "benchmark.results.compare",
                  "benchmark.results.report")
NOT_FOR_READERS = ("benchmark.data", "benchmark.features", "benchmark.method", "methods",
                   "benchmark.run")


def test_result_readers_read_results_only():
    """Tables, plots, CSVs, statistics and the report import no stage that makes results: what
    they show comes from the results folder (the runner writes the declared facts into it)."""
    modules = {_module_name(p) for p in _files()}
    wrong = []
    for path in _files():
        source = _module_name(path)
        if not any(_inside(source, r) for r in RESULT_READERS):
            continue
        for name in _imports(path):
            target = _known(name, modules) or ""
            if any(_inside(target, n) for n in NOT_FOR_READERS):
                wrong.append(f"{source} imports {target}")
    assert not wrong, "\n".join(sorted(set(wrong)))

"""pyproject.toml is true to the code: every package the suite imports is declared, and
requires-python admits no version the code cannot run on."""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# import name -> distribution name, where they differ
DISTRIBUTION = {"PIL": "pillow", "cv2": "opencv-python-headless", "sklearn": "scikit-learn",
                "open_clip": "open-clip-torch", "yaml": "pyyaml", "faiss": "faiss-cpu"}


def _imported() -> set[str]:
    names = set()
    for path in [*ROOT.glob("benchmark/**/*.py"), *ROOT.glob("methods/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("benchmark", "methods")}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_imported_package_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *(d for ds in project["optional-dependencies"].values() for d in ds)]
    declared = {_normal(re.split(r"[\[<>=!~ ;]", d, maxsplit=1)[0]) for d in declared}
    missing = sorted(n for n in _imported() if _normal(DISTRIBUTION.get(n, n)) not in declared)
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_requires_python_admits_only_what_the_code_runs_on():
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert spec == ">=3.11"  # tomllib (3.11) is imported unconditionally

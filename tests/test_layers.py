"""docs/design.md's layer rule: imports point down only; engines and store never import each other; report touches
neither store nor engines; stats imports only numpy / scipy / statsmodels; ``import tais`` pulls in no heavy
dependency."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tais"

# top to bottom; a module may import its own layer or any layer below it
LAYERS = ["cli", "testing", "pipeline", "report", "screen", "engines", "scoring", "battery", "sources", "store",
          "stats", "base"]
BASE_MODULES = {"types", "errors", "interfaces", "__init__"}
FORBIDDEN = {("engines", "store"), ("store", "engines"), ("report", "store"), ("report", "engines")}
HEAVY = ("torch", "transformers", "vllm")


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "tais":
        return None
    if len(parts) == 1 or parts[1] in BASE_MODULES:
        return "base"
    return parts[1] if parts[1] in LAYERS else "base"


def imports(path: Path, root: Path = SRC) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.level:
            rel = path.relative_to(root)
            pkg = ".".join(["tais", *rel.parent.parts][: max(1, len(rel.parts) - node.level + 1)])
            found.append((pkg + ("." + node.module if node.module else ""), node.lineno))
    return found


def layer_problems(root: Path = SRC) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        own = layer_of("tais." + ".".join(rel.with_suffix("").parts))
        for target, lineno in imports(path, root):
            other = layer_of(target)
            if other is None:
                continue
            if LAYERS.index(other) < LAYERS.index(own) or (own, other) in FORBIDDEN:
                problems.append(f"{rel}:{lineno}: {own} imports {target} ({other})")
    return problems


def test_every_module_imports_downward_only():
    problems = layer_problems()
    assert not problems, "\n".join(problems)


# inside engines: the speculative algorithms are used by backends, never the reverse; a backend package uses another
# only where it is built on it (vllm-server drives its server through the openai client)
ENGINE_PACKAGES = {"hf", "vllm", "openai", "speculative", "mock"}
ENGINE_ALLOWED = {("vllm", "openai")}


def engine_package_problems(root: Path = SRC) -> list[str]:
    problems = []
    engines = root / "engines"
    for path in sorted(engines.rglob("*.py")):
        rel = path.relative_to(engines)
        own = rel.parts[0].removesuffix(".py")
        if own not in ENGINE_PACKAGES:
            continue
        for target, lineno in imports(path, root):
            parts = target.split(".")
            if parts[:2] != ["tais", "engines"] or len(parts) < 3 or parts[2] not in ENGINE_PACKAGES:
                continue
            other = parts[2]
            if other != own and (other != "speculative" or own == "speculative") and (own, other) not in ENGINE_ALLOWED:
                problems.append(f"engines/{rel}:{lineno}: {own} imports {target}")
    return problems


def test_engine_packages_import_only_speculative_algorithms():
    problems = engine_package_problems()
    assert not problems, "\n".join(problems)


def test_an_engine_package_that_breaks_the_rule_is_caught(tmp_path):
    (tmp_path / "engines" / "speculative").mkdir(parents=True)
    (tmp_path / "engines" / "speculative" / "probe.py").write_text("from tais.engines.hf.rows import RowState\n")
    problems = engine_package_problems(tmp_path)
    assert any("speculative imports tais.engines.hf.rows" in p for p in problems), problems


def test_stats_depends_only_on_numeric_libraries():
    allowed = {"numpy", "scipy", "statsmodels", "tais", "__future__", "math", "dataclasses", "typing", "functools",
               "enum", "collections", "warnings", "itertools"}
    bad = [f"{p.name}: {t}" for p in (SRC / "stats").rglob("*.py") for t, _ in imports(p)
           if t.split(".")[0] not in allowed]
    assert not bad, bad


@pytest.mark.parametrize("module", ["tais", "tais.cli.main", "tais.stats", "tais.scoring", "tais.battery",
                                    "tais.store"])
def test_light_modules_do_not_import_heavy_dependencies(module):
    code = f"import sys, {module}; print([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", f"import {module} pulled in {out}"


def test_a_module_that_breaks_the_rule_is_caught(tmp_path):
    (tmp_path / "stats").mkdir()
    (tmp_path / "report").mkdir()
    (tmp_path / "stats" / "probe.py").write_text("from tais.store import sqlite_store\n")
    (tmp_path / "report" / "probe.py").write_text("from ..engines import hf\n")
    problems = layer_problems(tmp_path)
    assert any("stats imports tais.store" in p for p in problems), problems
    assert any("report imports tais.engines" in p for p in problems), problems

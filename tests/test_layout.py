"""The test tree keeps its own rule: tests share helpers through conftest fixtures and helper
modules, never by importing another test module (whose fixtures and collection would follow)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_no_test_module_imports_another_test_module() -> None:
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                leaf = node.module.rsplit(".", 1)[-1]
                if node.module.startswith("tests.") and (
                    leaf == "conftest" or leaf.startswith("test_")
                ):
                    offenders.append(f"{path.relative_to(TESTS)}: from {node.module} import ...")
    assert offenders == [], "\n".join(offenders)

"""handlers/ and nlp/ stay messenger-free: they never import a messenger SDK."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

SDKS = {"telegram", "wechatpy"}


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", ["handlers", "nlp", "workflow", "storage"])
def test_core_packages_import_no_messenger_sdk(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no modules found in {package}/"
    for path in files:
        assert not (_imported_roots(path) & SDKS), f"{path} imports a messenger SDK"


def test_the_check_would_notice_an_sdk_import(tmp_path: Path) -> None:
    module = tmp_path / "leak.py"
    module.write_text("from telegram import Bot\nimport wechatpy.crypto\n", encoding="utf-8")
    assert _imported_roots(module) >= SDKS


def _texts(path: Path) -> list[str]:
    """The module's string literals that are not docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    documented = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, documented) and node.body and isinstance(node.body[0], ast.Expr)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


@pytest.mark.parametrize(
    "module", ["workflow/cards.py", "workflow/staff.py", "workflow/duty.py", "scheduler/sweep.py"]
)
def test_staff_facing_text_lives_in_the_message_catalog(module: str) -> None:
    chinese = [text for text in _texts(ROOT / module) if re.search(r"[\u4e00-\u9fff]", text)]
    assert chinese == [], f"{module}: move these to handlers/messages.py"

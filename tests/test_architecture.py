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
    assert chinese == [], f"{module}: move these to messages/catalog.py"


OURS = {"bot", "handlers", "messages", "nlp", "scheduler", "storage", "web", "workflow"}
# What each package may import of ours: the layers run bot → scheduler → handlers → workflow →
# nlp/storage, and `messages` (the catalog, Inbound/Outbound) is a leaf all of them may use.
MAY_IMPORT = {
    "messages": set(),
    "storage": {"storage", "messages"},
    "nlp": {"nlp", "messages"},
    "workflow": {"workflow", "nlp", "storage", "messages"},
    "handlers": {"handlers", "workflow", "nlp", "storage", "messages"},
    "scheduler": {"scheduler", "workflow", "nlp", "storage", "messages"},
    "web": {"web", "scheduler", "workflow", "nlp", "storage", "messages"},
}


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_imports_run_down_the_layers_only(package: str) -> None:
    for path in sorted((ROOT / package).rglob("*.py")):
        wrong = (_imported_roots(path) & OURS) - MAY_IMPORT[package]
        assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}"


def test_the_channels_send_helper_needs_no_scheduler() -> None:
    """The rate-limited sender raises the leaf's Undeliverable: no edge to the clock."""
    assert "scheduler" not in _imported_roots(ROOT / "bot" / "channels" / "sender.py")

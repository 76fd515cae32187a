"""Layer boundaries, checked rather than remembered."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "smartsession"
CORE_ALLOWED = {"msgspec", "numpy"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules_under(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def test_core_is_pure() -> None:
    stdlib = sys.stdlib_module_names
    io_modules = {"socket", "asyncio", "sqlite3", "subprocess", "threading", "time", "os", "logging"}
    for path in modules_under("core"):
        for name in imports_of(path):
            top = name.split(".")[0]
            if name.startswith("smartsession."):
                assert name.startswith("smartsession.core"), f"{path.name} imports {name}"
            elif top in stdlib:
                assert top not in io_modules, f"{path.name} imports {top} (core must not do I/O)"
            else:
                assert top in CORE_ALLOWED, f"{path.name} imports {name}"


def test_hub_and_agent_never_import_the_tui() -> None:
    for folder in ("hub", "agent", "core"):
        for path in modules_under(folder):
            bad = {n for n in imports_of(path) if n.startswith(("textual", "smartsession.tui"))}
            assert not bad, f"{path} imports {bad}"


def test_only_vision_imports_cv2_or_mediapipe() -> None:
    for path in PACKAGE.rglob("*.py"):
        if "vision" in path.relative_to(PACKAGE).parts:
            continue
        bad = {n for n in imports_of(path) if n.split(".")[0] in {"cv2", "mediapipe", "ai_edge_litert"}}
        assert not bad, f"{path} imports {bad}"


def test_headless_commands_do_not_load_textual() -> None:
    code = (
        "import sys, smartsession.cli, smartsession.hub.service, smartsession.agent.runner;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual' or 'smartsession.tui' in m))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""The layout keeps its shape: imports run one way, at module top, and no flow package
holds a CLI or starts servers (that is `lwt`'s job)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ("exporters", "transformers_svc", "benchmarks")


def _modules(*packages: str) -> list[Path]:
    return [p for package in packages for p in (ROOT / package).rglob("*.py")]


def test_import_linter_contracts_are_kept():
    """CLI -> benchmarks -> local stack -> services -> exporters, contract at the bottom."""
    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]
    assert "0 broken" in result.stdout


def test_imports_are_at_module_top_unless_a_comment_says_why():
    """`lwt/commands` imports its flows in each handler (its package docstring says why);
    anywhere else an import inside a function needs a comment beside it."""
    hidden = []
    for path in _modules("lwt", *FLOWS):
        if path.parent.name == "commands":
            continue
        lines = path.read_text().splitlines()
        for func in ast.walk(ast.parse(path.read_text())):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(func):
                    if isinstance(node, (ast.Import, ast.ImportFrom)) and \
                            not any("#" in line for line in lines[max(0, node.lineno - 4): node.lineno]):
                        hidden.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert hidden == []


def test_flow_packages_hold_no_cli_and_start_no_servers():
    for path in _modules(*FLOWS):
        text = path.read_text()
        if path.name == "baseline_server.py":  # the benchmark's stand-in for today's server is run as a script
            continue
        assert "argparse" not in text, f"{path.relative_to(ROOT)}: CLIs live in lwt/commands"
        assert "subprocess.Popen" not in text, f"{path.relative_to(ROOT)}: servers are started by lwt/stack"

"""`lwt --help` lists every subcommand; usage errors exit 2 without a traceback."""

from __future__ import annotations

import subprocess


def test_help_lists_the_subcommands(lwt):
    result = subprocess.run([*lwt, "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("export", "serve", "demo", "store", "push", "pull", "wiki", "services"):
        assert command in result.stdout


def test_export_tree_help_names_the_contract_flags(lwt):
    result = subprocess.run([*lwt, "export", "tree", "--help"], capture_output=True, text=True)
    for flag in ("--name", "--repository", "--version", "--verify-data", "--max-batch-size",
                 "--instance-count", "--gpu", "--force", "--json"):
        assert flag in result.stdout


def test_usage_error_exits_2(lwt):
    result = subprocess.run([*lwt, "export", "tree"], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr

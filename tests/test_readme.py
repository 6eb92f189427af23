"""The README documents what a new user runs and every setting the services read."""

from __future__ import annotations

import re
from pathlib import Path

from tools.settings_table import README, render, rows

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_table_matches_the_settings_classes() -> None:
    text = README.read_text()
    assert render() in text, "README configuration table is stale: run tools/settings_table.py"
    for name, *_ in rows():
        assert f"`{name}`" in text


def test_ci_runs_exactly_the_readme_test_command() -> None:
    commands = re.findall(r"```bash\n(.+?)\n```", README.read_text())
    assert "./scripts/test" in commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert "exec ./scripts/test\n" in ci

"""Renders the README's configuration table from the settings classes, so the two never drift.

Usage: .venv/bin/python tools/settings_table.py [--check]"""

from __future__ import annotations

import importlib
import socket
import sys
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from scaisend_core.config import CoreSettings

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"
SERVICE_PACKAGES = {"api": "scaisend_api", "worker": "scaisend_worker", "smtp": "scaisend_smtp"}


def service_settings() -> dict[str, type[CoreSettings]]:
    """The CoreSettings subclass each installed service defines."""
    found: dict[str, type[CoreSettings]] = {}
    for service, package in SERVICE_PACKAGES.items():
        for module_name in (f"{package}.settings", f"{package}.config"):
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError:
                continue
            for value in vars(module).values():
                is_settings = isinstance(value, type) and issubclass(value, CoreSettings)
                if is_settings and value is not CoreSettings:
                    found[service] = value
    return found


def _default(field: FieldInfo) -> str:
    if field.default_factory is socket.getfqdn:
        return "the host's FQDN"
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "**required**"
    else:
        value = field.default
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    return "" if value in (None, "") else f"`{value}`"


def rows() -> list[tuple[str, str, str, str]]:
    table = [(n.upper(), "all", _default(f), f.description or "")
             for n, f in CoreSettings.model_fields.items()]  # fmt: skip
    for service, cls in sorted(service_settings().items()):
        for name, field in cls.model_fields.items():
            if name not in CoreSettings.model_fields:
                table.append((name.upper(), service, _default(field), field.description or ""))
    return table


def render() -> str:
    lines = ["| Variable | Used by | Default | Meaning |", "|---|---|---|---|"]
    lines += [f"| `{n}` | {s} | {d} | {m.replace('|', '/')} |" for n, s, d, m in rows()]
    return "\n".join(lines)


def updated_readme(text: str) -> str:
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{render()}\n{END}{tail}"


def main() -> int:
    current = README.read_text()
    wanted = updated_readme(current)
    if "--check" in sys.argv:
        if current != wanted:
            print("README.md's configuration table is stale: run tools/settings_table.py")
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Keeps the chart's environment in step with the settings classes.

Every field of CoreSettings and of each service's settings class (a CoreSettings subclass in
scaisend_<service>.settings or .config) becomes one key of the chart's values:

  config:            shared ConfigMap <release>-scaisend-config (all services, migration Job)
  secrets.values:    the chart-made Secret (SECRET_NAMES and every SecretStr field)
  <service>.config:  that service's own ConfigMap, for the fields only its class has

Variables the chart derives from structured values (ports, the inbound TLS mount) are listed in
DERIVED and are not free keys. This script rewrites the generated blocks of values.yaml (between
`# >>> env:<block>` and `# <<< env:<block>`) and the `definitions.env*` of values.schema.json.

Usage (workspace venv, so the settings classes import):
  .venv/bin/python deploy/helm/sync_env.py           # rewrite
  .venv/bin/python deploy/helm/sync_env.py --check   # exit 1 and list what is stale
"""

from __future__ import annotations

import importlib
import json
import re
import socket
import sys
import textwrap
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from scaisend_core.config import CoreSettings

CHART = Path(__file__).resolve().parent / "scaisend"
VALUES = CHART / "values.yaml"
SCHEMA = CHART / "values.schema.json"

SERVICES = ("api", "worker", "smtp")
COMMENT_WIDTH = 98
SERVICE_MODULES = {s: (f"scaisend_{s}.settings", f"scaisend_{s}.config") for s in SERVICES}

# Always in the Secret, whatever their type (connection URLs carry passwords).
SECRET_NAMES = frozenset(
    {
        "SECRET_KEY",
        "SECRET_KEY_PREVIOUS",
        "S3_SECRET_ACCESS_KEY",
        "SCAIKEY_WEBHOOK_SECRET",
        "SCAIKEY_CLIENT_SECRET",
        "SMTP_SMARTHOST_PASSWORD",
        "DATABASE_URL",
        "REDIS_URL",
    }
)

# Set by the chart from structured values, per service ConfigMap; never free keys.
DERIVED: dict[str, str] = {
    "API_PORT": "api.containerPort",
    "METRICS_PORT": "worker.metrics.port / smtp.metrics.port",
    "SMTP_INBOUND_PORT": "smtp.inbound.containerPort",
    "SMTP_INBOUND_TLS_CERT": "smtp.inbound.tls.secretName (mounted tls.crt)",
    "SMTP_INBOUND_TLS_KEY": "smtp.inbound.tls.secretName (mounted tls.key)",
}


@dataclass(frozen=True)
class EnvVar:
    name: str
    field: FieldInfo
    owner: str  # "core" or a service name

    @property
    def secret(self) -> bool:
        return self.name in SECRET_NAMES or _mentions(self.field.annotation, SecretStr)


def env_name(cls: type[CoreSettings], field_name: str) -> str:
    prefix = str(cls.model_config.get("env_prefix") or "")
    return (prefix + field_name).upper()


def service_settings() -> dict[str, list[type[CoreSettings]]]:
    """The CoreSettings subclasses each importable service defines."""
    found: dict[str, list[type[CoreSettings]]] = {}
    for service, modules in SERVICE_MODULES.items():
        for module_name in modules:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name and module_name.startswith(exc.name):
                    continue  # the module (or its package) does not exist yet
                raise
            for value in vars(module).values():
                if (
                    isinstance(value, type)
                    and issubclass(value, CoreSettings)
                    and value is not CoreSettings
                    and value.__module__ == module.__name__
                ):
                    found.setdefault(service, []).append(value)
    return found


def collect() -> tuple[list[EnvVar], dict[str, list[EnvVar]]]:
    """(shared core variables, {service: variables only that service's class has})."""
    core = [
        EnvVar(env_name(CoreSettings, n), f, "core") for n, f in CoreSettings.model_fields.items()
    ]
    core_names = {v.name for v in core}
    per_service: dict[str, list[EnvVar]] = {s: [] for s in SERVICES}
    for service, classes in service_settings().items():
        seen: set[str] = set()
        for cls in classes:
            for field_name, field in cls.model_fields.items():
                name = env_name(cls, field_name)
                if name in core_names or name in seen:
                    continue
                seen.add(name)
                per_service[service].append(EnvVar(name, field, service))
    return core, per_service


def blocks() -> dict[str, list[EnvVar]]:
    core, per_service = collect()
    out = {
        "config": [v for v in core if not v.secret and v.name not in DERIVED],
        "secrets": [v for v in core if v.secret],
    }
    for service in SERVICES:
        own = [v for v in per_service[service] if v.name not in DERIVED]
        out["secrets"] += [v for v in own if v.secret]
        out[service] = [v for v in own if not v.secret]
    out["secrets"].sort(key=lambda v: v.name)
    return out


# ---- values.yaml ---------------------------------------------------------------------------


def _mentions(annotation: Any, target: type) -> bool:
    if annotation is target:
        return True
    return any(_mentions(arg, target) for arg in typing.get_args(annotation))


def _default_text(field: FieldInfo) -> str:
    if field.default_factory is socket.getfqdn:
        return "Default: the pod's FQDN."
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "Required."
    else:
        value = field.default
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    if value is None or value == "" or value == []:
        return "Unset by default."
    if isinstance(value, bool):
        value = str(value).lower()
    return f"Default: {value}."


def values_block(variables: list[EnvVar], indent: str, secret: bool) -> list[str]:
    lines = []
    for var in variables:
        description = (var.field.description or var.name).rstrip(".")
        comment = textwrap.wrap(
            f"{description}. {_default_text(var.field)}", width=COMMENT_WIDTH - len(indent)
        )
        lines += [f"{indent}# {line}" for line in comment]
        lines.append(f"{indent}{var.name}: " + ('""' if secret else "~"))
    return lines


MARKER = re.compile(r"^(?P<indent>\s*)# >>> env:(?P<block>\w+)")


def render_values(text: str) -> str:
    generated = blocks()
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        match = MARKER.match(line)
        i += 1
        if not match:
            continue
        block, indent = match["block"], match["indent"]
        end = f"{indent}# <<< env:{block}"
        while i < len(lines) and lines[i] != end:
            i += 1
        if i == len(lines):
            raise SystemExit(f"values.yaml: no closing '{end.strip()}'")
        if block not in generated:
            raise SystemExit(f"values.yaml: unknown generated block env:{block}")
        out += values_block(generated[block], indent, secret=block == "secrets")
    return "\n".join(out) + "\n"


# ---- values.schema.json --------------------------------------------------------------------


def _scalar_schema(annotation: Any) -> dict[str, Any]:
    if typing.get_origin(annotation) is typing.Literal:
        return {"enum": list(typing.get_args(annotation))}
    if annotation is bool:
        return {"type": "boolean"}
    if annotation is int:
        return {"type": "integer"}
    if annotation is float:
        return {"type": "number"}
    return {"type": "string"}


def _bounds(field: FieldInfo, numeric: bool) -> dict[str, Any]:
    if not numeric:
        return {}
    out: dict[str, Any] = {}
    for item in field.metadata:
        if isinstance(item, annotated_types.Ge):
            out["minimum"] = item.ge
        elif isinstance(item, annotated_types.Gt):
            out["exclusiveMinimum"] = item.gt
        elif isinstance(item, annotated_types.Le):
            out["maximum"] = item.le
        elif isinstance(item, annotated_types.Lt):
            out["exclusiveMaximum"] = item.lt
    return out


def field_schema(var: EnvVar) -> dict[str, Any]:
    """The values.schema.json entry of one variable; null (or "") leaves it unset."""
    annotation = var.field.annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    schema: dict[str, Any] = {}
    if var.field.description:
        schema["description"] = var.field.description
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation) or (str,)
        schema["description"] = (
            schema.get("description", "") + " A list or a comma-separated string."
        )
        schema["type"] = ["array", "string", "null"]
        schema["items"] = _scalar_schema(item)
        return schema
    scalar = _scalar_schema(annotation)
    if "enum" in scalar:
        schema["enum"] = [*scalar["enum"], None]
        return schema
    kind = scalar["type"]
    schema["type"] = [kind, "null"]
    schema.update(_bounds(var.field, kind in ("integer", "number")))
    if kind == "string" and var.field.is_required():
        schema["description"] += " Required by the services."
    return schema


DEFINITION_NAMES = {"config": "envShared", "secrets": "envSecrets"} | {
    s: f"env{s.capitalize()}" for s in SERVICES
}


def render_schema(text: str) -> str:
    schema = json.loads(text)
    definitions = schema.setdefault("definitions", {})
    for block, variables in blocks().items():
        definitions[DEFINITION_NAMES[block]] = {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {v.name: field_schema(v) for v in variables},
        }
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def stale() -> list[str]:
    problems = []
    for path, render in ((VALUES, render_values), (SCHEMA, render_schema)):
        current = path.read_text()
        if render(current) != current:
            problems.append(str(path.relative_to(CHART.parents[2])))
    return problems


def main() -> int:
    if "--check" in sys.argv[1:]:
        problems = stale()
        for path in problems:
            print(f"{path} is out of step with the settings classes: run deploy/helm/sync_env.py")
        return 1 if problems else 0
    for path, render in ((VALUES, render_values), (SCHEMA, render_schema)):
        path.write_text(render(path.read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Renders the Helm chart with the helm binary from .tools/ and indexes what comes out."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "scaisend"
PRODUCTION_VALUES = CHART / "ci" / "production-values.yaml"
TOOLS = ROOT / ".tools"
HELM = TOOLS / "bin" / "helm"
DEPLOY_PYTHON = TOOLS / "deploy-venv" / "bin" / "python"
RELEASE = "rel"
NAMESPACE = "mail"
SERVICES = ("api", "worker", "smtp")
INSTALL_HINT = "run scripts/install-deploy-tools (it puts helm and the validators into .tools/)"


def require_tool(path: Path) -> Path:
    """A missing tool fails the test with what to do; it never skips."""
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: {INSTALL_HINT}", pytrace=False)
    return path


class RenderError(Exception):
    """helm template refused the values; the message is helm's stderr."""


@dataclass(frozen=True)
class Manifests:
    docs: tuple[dict[str, Any], ...]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def names(self, kind: str) -> set[str]:
        return {d["metadata"]["name"] for d in self.of_kind(kind)}

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        assert found, f"no {kind} {name!r}; rendered {kind}s: {sorted(self.names(kind))}"
        assert len(found) == 1, f"{len(found)} objects {kind} {name!r}"
        return found[0]

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        return found[0] if found else None

    def deployment(self, service: str) -> dict[str, Any]:
        return self.get("Deployment", component_name(service))

    def container(self, service: str) -> dict[str, Any]:
        (container,) = self.deployment(service)["spec"]["template"]["spec"]["containers"]
        return dict(container)


def component_name(component: str) -> str:
    return f"{RELEASE}-scaisend-{component}"


def run_helm(args: list[str]) -> str:
    helm = require_tool(HELM)
    result = subprocess.run(
        [str(helm), *args], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise RenderError(result.stderr.strip())
    return result.stdout


@cache
def _render_cached(values_json: str, files: tuple[str, ...], chart: str) -> Manifests:
    with tempfile.TemporaryDirectory() as tmp:
        args = ["template", RELEASE, chart, "--namespace", NAMESPACE]
        for f in files:
            args += ["-f", f]
        overrides = json.loads(values_json)
        if overrides:
            path = Path(tmp) / "overrides.yaml"
            path.write_text(yaml.safe_dump(overrides))
            args += ["-f", str(path)]
        output = run_helm(args)
    docs = tuple(d for d in yaml.safe_load_all(output) if d)
    return Manifests(docs)


def render(
    values: Mapping[str, Any] | None = None,
    files: Iterable[Path] = (),
    chart: Path = CHART,
) -> Manifests:
    """`helm template` with values files and then `values` (a nested dict) on top."""
    return _render_cached(
        json.dumps(values or {}, sort_keys=True), tuple(str(f) for f in files), str(chart)
    )


def render_notes(values: Mapping[str, Any] | None = None) -> str:
    """NOTES.txt as `helm install` would print it (helm template leaves NOTES out)."""
    with tempfile.TemporaryDirectory() as tmp:
        chart = Path(tmp) / "scaisend"
        shutil.copytree(CHART, chart)
        (chart / "templates" / "zz-notes.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: |\n"
            '    {{- include "scaisend/templates/NOTES.txt" . | nindent 4 }}\n'
        )
        manifests = _render_cached(json.dumps(values or {}, sort_keys=True), (), str(chart))
    return str(manifests.get("ConfigMap", "notes")["data"]["notes"])


def env_names(manifests: Manifests, service: str) -> set[str]:
    """Every variable the chart gives a service's container through ConfigMaps and the Secret."""
    container = manifests.container(service)
    names: set[str] = {e["name"] for e in container.get("env", [])}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            obj = manifests.find("ConfigMap", source["configMapRef"]["name"])
        else:
            obj = manifests.find("Secret", source["secretRef"]["name"])
        if obj is not None:
            names |= set(obj.get("data") or {})
    return names

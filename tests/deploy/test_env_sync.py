"""The chart's environment (ConfigMaps + Secret) against the settings classes.

Every field of CoreSettings, ApiSettings and of the worker/SMTP settings classes (when they can be
imported) must be settable through the chart's values and reach the pods of its service; the chart
must set no variable that no settings class knows. deploy/helm/sync_env.py generates the values
blocks and the schema from the same classes; these tests check its output as rendered by helm.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from functools import cache
from types import ModuleType
from typing import Any

import pytest

from tests.deploy.chart import (
    CHART,
    ROOT,
    SERVICES,
    Manifests,
    component_name,
    env_names,
    render,
)

SECRET_NAMES = {
    "SECRET_KEY",
    "SECRET_KEY_PREVIOUS",
    "S3_SECRET_ACCESS_KEY",
    "SCAIKEY_WEBHOOK_SECRET",
    "SCAIKEY_CLIENT_SECRET",
    "SMTP_SMARTHOST_PASSWORD",
    "DATABASE_URL",
    "REDIS_URL",
}
# Variables the chart derives for one service only (ports, the inbound TLS mount).
DERIVED_FOR = {
    "api": {"API_PORT"},
    "worker": {"METRICS_PORT"},
    "smtp": {"METRICS_PORT", "SMTP_INBOUND_PORT", "SMTP_INBOUND_TLS_CERT", "SMTP_INBOUND_TLS_KEY"},
}
ALL_DERIVED = set().union(*DERIVED_FOR.values())


@cache
def sync_env() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sync_env", ROOT / "deploy/helm/sync_env.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["sync_env"] = module
    spec.loader.exec_module(module)
    return module


def class_fields() -> dict[str, set[str]]:
    """{service: env names of its settings class}; CoreSettings for a service without one."""
    from scaisend_core.config import CoreSettings

    module = sync_env()
    core = {module.env_name(CoreSettings, n) for n in CoreSettings.model_fields}
    classes = module.service_settings()
    out = {}
    for service in SERVICES:
        names = set(core)
        for cls in classes.get(service, []):
            names |= {module.env_name(cls, n) for n in cls.model_fields}
        out[service] = names
    return out


def known_names() -> set[str]:
    """Every variable some settings class knows, plus METRICS_PORT while it is still pending."""
    names = set().union(*class_fields().values())
    classes = sync_env().service_settings()
    if "METRICS_PORT" not in names and not ({"worker", "smtp"} & set(classes)):
        # Worker and SMTP settings classes are not written yet; they will read METRICS_PORT.
        names.add("METRICS_PORT")
    return names


def _sample(schema: dict[str, Any]) -> Any:
    """A non-empty value the chart's schema accepts for one variable."""
    if "enum" in schema:
        return next(v for v in schema["enum"] if v is not None)
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if "array" in types:
        return [_sample(schema["items"])]
    if "integer" in types or "number" in types:
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        return min(max(int(low), 1), schema.get("maximum", 10**6))
    if "boolean" in types:
        return True
    return "x"


def full_values() -> dict[str, Any]:
    """Values that set every variable the schema offers, and the inbound TLS Secret."""
    definitions = json.loads((CHART / "values.schema.json").read_text())["definitions"]

    def every(name: str) -> dict[str, Any]:
        return {k: _sample(v) for k, v in definitions[name]["properties"].items()}

    values: dict[str, Any] = {
        "config": every("envShared"),
        "secrets": {"values": every("envSecrets")},
    }
    for service in SERVICES:
        values[service] = {"config": every(f"env{service.capitalize()}")}
    values["smtp"]["inbound"] = {"tls": {"secretName": "inbound-tls"}}
    return values


@pytest.fixture(scope="module")
def full_manifests() -> Manifests:
    return render(full_values())


def chart_set_names(manifests: Manifests) -> dict[str, set[str]]:
    """{object name: variables} for every ConfigMap and chart-made Secret."""
    out = {}
    for kind in ("ConfigMap", "Secret"):
        for obj in manifests.of_kind(kind):
            out[f"{kind}/{obj['metadata']['name']}"] = set(obj.get("data") or {})
    return out


def test_generated_values_and_schema_are_up_to_date() -> None:
    stale = sync_env().stale()
    assert not stale, (
        f"{stale} out of step with the settings classes: run "
        ".venv/bin/python deploy/helm/sync_env.py and review the diff"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_every_field_reaches_its_service(full_manifests: Manifests, service: str) -> None:
    expected = class_fields()[service] - (ALL_DERIVED - DERIVED_FOR[service])
    missing = expected - env_names(full_manifests, service)
    assert not missing, (
        f"not settable through the chart for {service}: {sorted(missing)}; add them with "
        "deploy/helm/sync_env.py (or to DERIVED there and in the chart's derivedEnv)"
    )


def test_every_field_is_settable_somewhere(full_manifests: Manifests) -> None:
    reachable = set().union(*(env_names(full_manifests, s) for s in SERVICES))
    assert set().union(*class_fields().values()) - reachable == set()


@pytest.mark.parametrize("which", ["default", "production", "full"])
def test_chart_sets_no_unknown_variable(
    which: str,
    default_manifests: Manifests,
    production_manifests: Manifests,
    full_manifests: Manifests,
) -> None:
    manifests = {
        "default": default_manifests,
        "production": production_manifests,
        "full": full_manifests,
    }[which]
    known = known_names()
    unknown = {
        obj: sorted(names - known)
        for obj, names in chart_set_names(manifests).items()
        if names - known
    }
    assert not unknown, f"the chart sets variables no settings class knows: {unknown}"


def test_secrets_go_to_the_secret_and_nowhere_else(full_manifests: Manifests) -> None:
    core_secrets = SECRET_NAMES & known_names()
    assert core_secrets == SECRET_NAMES, "a required secret is no longer a settings field"
    secret = set(full_manifests.get("Secret", "rel-scaisend")["data"])
    assert secret >= SECRET_NAMES
    for obj, names in chart_set_names(full_manifests).items():
        if obj.startswith("ConfigMap/"):
            assert not names & secret, f"{obj} holds secrets {sorted(names & secret)}"


def test_secretstr_fields_are_secrets() -> None:
    from pydantic import SecretStr

    module = sync_env()
    blocks = module.blocks()
    secret_names = {v.name for v in blocks["secrets"]}
    for block, variables in blocks.items():
        if block == "secrets":
            continue
        for var in variables:
            assert not module._mentions(var.field.annotation, SecretStr), var.name
    assert secret_names >= SECRET_NAMES


def test_values_are_rendered_as_the_services_parse_them(full_manifests: Manifests) -> None:
    """Whole numbers stay integers, lists become comma-separated, booleans lowercase."""
    values = {
        "config": {
            "SMTP_INBOUND_MAX_SIZE": 10485760,
            "SMTP_RETRY_SCHEDULE": [60, 300, 86400],
            "DNS_NAMESERVERS": "10.0.0.10:53,10.0.0.11",
            "SMTP_REQUIRE_TLS": False,
            "SMTP_CONNECT_TIMEOUT": 12.5,
        },
        "secrets": {"values": {"SECRET_KEY_PREVIOUS": ["old-1", "old-2"]}},
    }
    manifests = render(values)
    data = manifests.get("ConfigMap", "rel-scaisend-config")["data"]
    assert data == {
        "SMTP_INBOUND_MAX_SIZE": "10485760",
        "SMTP_RETRY_SCHEDULE": "60,300,86400",
        "DNS_NAMESERVERS": "10.0.0.10:53,10.0.0.11",
        "SMTP_REQUIRE_TLS": "false",
        "SMTP_CONNECT_TIMEOUT": "12.5",
    }
    import base64

    secret = manifests.get("Secret", "rel-scaisend")["data"]
    assert base64.b64decode(secret["SECRET_KEY_PREVIOUS"]) == b"old-1,old-2"


def test_rendered_environment_loads_into_the_settings_classes(full_manifests: Manifests) -> None:
    """The API pod's environment, as rendered, is accepted by ApiSettings."""
    import base64

    from scaisend_api.settings import ApiSettings

    values = {
        "config": {"S3_BUCKET": "b", "SMTP_RETRY_SCHEDULE": [60, 300], "SMTP_REQUIRE_TLS": True},
        "secrets": {
            "values": {
                "DATABASE_URL": "mysql://u:p@db/scaisend",
                "REDIS_URL": "redis://redis:6379/0",
                "SECRET_KEY": "k" * 40,
                "SECRET_KEY_PREVIOUS": ["o" * 40, "p" * 40],
            }
        },
    }
    manifests = render(values)
    env: dict[str, str] = {}
    for source in manifests.container("api")["envFrom"]:
        if "configMapRef" in source:
            env |= manifests.get("ConfigMap", source["configMapRef"]["name"])["data"]
        else:
            data = manifests.get("Secret", source["secretRef"]["name"])["data"]
            env |= {k: base64.b64decode(v).decode() for k, v in data.items()}
    settings = ApiSettings(_env_file=None, **{k.lower(): v for k, v in env.items()})
    assert settings.api_port == 8000
    assert settings.smtp_retry_schedule == [60, 300]
    assert settings.smtp_require_tls is True
    assert len(settings.secret_key_previous) == 2
    assert settings.database_url.startswith("mysql+asyncmy://")


def test_each_service_reads_its_own_configmap(default_manifests: Manifests) -> None:
    for service in SERVICES:
        sources = default_manifests.container(service)["envFrom"]
        assert sources[:2] == [
            {"configMapRef": {"name": "rel-scaisend-config"}},
            {"configMapRef": {"name": component_name(service)}},
        ]

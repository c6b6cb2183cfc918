"""deploy/: the Kubernetes manifests (base and GPU overlay) against the Kubernetes schemas, the
compose file, the PeriShield commands they run against our own CLI, the alert rules with
promtool, and the camera-down alert fired by a real Prometheus scraping `perishield run`."""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from orchestrator.cli import build_parser
from orchestrator.config import Settings
from orchestrator.triton.server import free_port

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
K8S = DEPLOY / "k8s"
CLUSTER_SCOPED = {"Namespace", "PersistentVolume", "ClusterRole", "ClusterRoleBinding"}


def _merge(base: Any, patch: Any) -> Any:
    """Kubernetes' strategic merge for what our patches use: maps merge, lists of named
    items (containers, env, volumes, ports) merge by name, other lists are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = _merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    if (isinstance(base, list) and isinstance(patch, list) and patch
            and all(isinstance(x, dict) and "name" in x for x in [*base, *patch])):
        out_list = [copy.deepcopy(x) for x in base]
        for item in patch:
            at = next((i for i, x in enumerate(out_list) if x["name"] == item["name"]), None)
            if at is None:
                out_list.append(copy.deepcopy(item))
            else:
                out_list[at] = _merge(out_list[at], item)
        return out_list
    return copy.deepcopy(patch)


def render(folder: Path) -> list[dict[str, Any]]:
    """``kustomize build`` for what our kustomizations use: resources (files and bases),
    patches, namespace, images, labels."""
    k = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert k["kind"] == "Kustomization"
    docs: list[dict[str, Any]] = []
    for res in k.get("resources", []):
        path = folder / res
        assert path.exists(), f"{folder}: resource {res} is missing"
        docs += render(path) if path.is_dir() else [
            d for d in yaml.safe_load_all(path.read_text()) if d]
    for p in k.get("patches", []):
        patch = yaml.safe_load((folder / p["path"]).read_text())
        at = [i for i, d in enumerate(docs) if d["kind"] == patch["kind"]
              and d["metadata"]["name"] == patch["metadata"]["name"]]
        assert len(at) == 1, f"{p['path']} patches no (or several) objects"
        docs[at[0]] = _merge(docs[at[0]], patch)
    for d in docs:
        if "namespace" in k and d["kind"] not in CLUSTER_SCOPED:
            d["metadata"]["namespace"] = k["namespace"]
        for lab in k.get("labels", []):
            d["metadata"].setdefault("labels", {}).update(lab["pairs"])
        for c in containers(d):
            for img in k.get("images", []):
                if c["image"] == img["name"]:
                    c["image"] = f"{img['newName']}:{img['newTag']}"
    return docs


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


@pytest.fixture(params=["base", "overlays/gpu"])
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(K8S / request.param)


def test_manifests_are_valid_kubernetes(rendered: list[dict[str, Any]]) -> None:
    version = kubernetes_validate.latest_version()
    for doc in rendered:
        kubernetes_validate.validate(doc, version, strict=True)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in rendered}
    assert {("Deployment", "triton"), ("Deployment", "perishield-worker"),
            ("Deployment", "perishield-api"), ("Service", "triton"),
            ("PodDisruptionBudget", "perishield-worker")} <= kinds
    for c in (c for d in rendered for c in containers(d)):
        assert "/" in c["image"] and ":" in c["image"], c["image"]  # every image pinned


def test_selectors_probes_and_drain(rendered: list[dict[str, Any]]) -> None:
    deployments = {d["metadata"]["name"]: d for d in rendered if d["kind"] == "Deployment"}
    pods = [d["spec"]["template"]["metadata"]["labels"] for d in deployments.values()]
    for d in rendered:
        if d["kind"] in ("Service", "PodDisruptionBudget"):
            sel = d["spec"].get("selector", {})
            sel = sel.get("matchLabels", sel) if d["kind"] == "PodDisruptionBudget" else sel
            if d["spec"].get("type") == "ExternalName":
                continue
            assert any(sel.items() <= labels.items() for labels in pods), d["metadata"]
    triton = deployments["triton"]["spec"]["template"]["spec"]
    server = next(c for c in triton["containers"] if c["name"] == "triton")
    assert server["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    repo = [c for c in triton["initContainers"] if c["name"] == "model-repository"]
    assert repo and "perishield triton build" in " ".join(repo[0]["args"])
    worker = deployments["perishield-worker"]["spec"]
    assert worker["replicas"] >= 5  # 1,000 cameras at 200 a worker (docs/capacity.md)
    assert worker["template"]["spec"]["terminationGracePeriodSeconds"] >= 30


def test_gpu_overlay_serves_the_plan_on_gpus() -> None:
    docs = render(K8S / "overlays" / "gpu")
    triton = next(d for d in docs if d["kind"] == "Deployment"
                  and d["metadata"]["name"] == "triton")["spec"]
    assert triton["replicas"] == 3
    spec = triton["template"]["spec"]
    server = next(c for c in spec["containers"] if c["name"] == "triton")
    assert "--load-model=yolox_nano" in server["args"]
    assert server["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert server["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"  # kept
    plan = next(c for c in spec["initContainers"] if c["name"] == "tensorrt-plan")
    assert plan["image"].startswith("nvcr.io/nvidia/tritonserver:")  # built where it is served
    site = next(d for d in docs if d["kind"] == "ConfigMap")
    assert yaml.safe_load(site["data"]["site.yaml"])["detector"]["triton"]["model"] == \
        "yolox_nano"


def _settings_from(site_yaml: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
                   ) -> Settings:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return Settings(**yaml.safe_load(site_yaml))


def test_site_settings_and_commands_are_ours(rendered: list[dict[str, Any]],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The ConfigMap is a valid configuration with the secret's URLs applied, and every
    perishield command the manifests run parses with our CLI."""
    site = next(d for d in rendered if d["kind"] == "ConfigMap")["data"]["site.yaml"]
    secret = next(d for d in rendered if d["kind"] == "Secret")["stringData"]
    s = _settings_from(site, secret, monkeypatch)
    assert s.outputs.database_url and s.outputs.database_url.startswith("postgresql")
    assert s.detector.backend == "triton"
    parser = build_parser()
    ran = 0
    for c in (c for d in rendered for c in containers(d)):
        if c["image"].split("/")[-1].startswith("perishield") and "command" not in c:
            args = [a.replace("$(POD_NAME)", "worker-0") for a in c["args"]]
            parser.parse_args(args)  # exits (fails the test) on an unknown flag
            ran += 1
    assert ran >= 4


def test_compose_file_hangs_together(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = doc["services"]
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            assert src.startswith(".") or src in doc["volumes"], f"{name}: volume {src}"
    env = {k: v.replace("${RABBITMQ_PASSWORD}", "x").replace("${POSTGRES_PASSWORD}", "x")
           .replace("${TRITON_ADMIN_HEADER}", "a=b")
           for k, v in services["worker"]["environment"].items()}
    _settings_from((DEPLOY / "compose-site.yaml").read_text(), env, monkeypatch)
    parser = build_parser()
    for name in ("worker", "api", "relay", "deliver-platform"):
        parser.parse_args(services[name]["command"])
    dotenv = dict(line.split("=", 1) for line in (DEPLOY / ".env").read_text().splitlines()
                  if line and not line.startswith("#"))
    assert {"RABBITMQ_PASSWORD", "POSTGRES_PASSWORD", "TRITON_ADMIN_HEADER"} <= dotenv.keys()


def test_grafana_dashboard_queries_our_metrics() -> None:
    dash = json.loads((DEPLOY / "grafana" / "perishield.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(exprs) >= 10 and all("perishield_" in e for e in exprs)


def test_alert_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/system-deps.sh installs Debian's prometheus"
    subprocess.run([promtool, "check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
                   check=True, capture_output=True)
    subprocess.run([promtool, "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
                   check=True, capture_output=True)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def _until(cond: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        got = cond()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.mark.rtsp
def test_a_camera_down_alert_fires_when_its_rtsp_server_stops(tmp_path: Path,
                                                              stadtmitte: Path) -> None:
    """`perishield run` on one RTSP camera, scraped by a real Prometheus with deploy/'s alert
    rules (the hold of PeriShieldCameraDown shortened from 1 m to 3 s); the RTSP server is
    stopped and the alert fires for that camera."""
    from tests.rtsp.server import RtspServer, transcode

    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    for rule in rules["groups"][0]["rules"]:
        if rule["alert"] == "PeriShieldCameraDown":
            rule["for"] = "3s"
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules))
    metrics_port, prom_port = free_port(), free_port()
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["alerts.yml"],
        "scrape_configs": [{"job_name": "perishield-worker", "static_configs": [
            {"targets": [f"127.0.0.1:{metrics_port}"]}]}]}))
    with RtspServer({"/gate": transcode(stadtmitte, tmp_path / "gate.mp4", loops=8)}) as rtsp:
        (tmp_path / "site.yaml").write_text(yaml.safe_dump({
            "cameras": [{"id": "gate-cam", "source": rtsp.url("/gate"), "analysis_fps": 2,
                         "stall_s": 2, "open_timeout_s": 2}],
            "outputs": {"data_dir": str(tmp_path / "data")}}))
        run = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "run", "-c", str(tmp_path / "site.yaml"),
             "--metrics-port", str(metrics_port)],
            stdout=subprocess.DEVNULL, stderr=(tmp_path / "run.log").open("w"),
            start_new_session=True)
        prom = subprocess.Popen(
            ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"),
            start_new_session=True)
        api = f"http://127.0.0.1:{prom_port}/api/v1"

        def up() -> bool:
            try:
                r = _get(f"{api}/query?query=perishield_camera_up")["data"]["result"]
            except OSError:
                return False
            return any(x["metric"].get("camera") == "gate-cam" and x["value"][1] == "1"
                       for x in r)

        def firing() -> list[dict[str, Any]]:
            return [a for a in _get(f"{api}/alerts")["data"]["alerts"]
                    if a["labels"]["alertname"] == "PeriShieldCameraDown"
                    and a["state"] == "firing"]

        try:
            _until(up, 60, "the camera live in Prometheus")
            assert not firing()
            rtsp.stop()
            alerts = _until(firing, 120, "PeriShieldCameraDown firing")
            assert alerts[0]["labels"]["camera"] == "gate-cam"
            assert alerts[0]["labels"]["severity"] == "critical"
        finally:
            for p in (run, prom):
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGTERM)
                    try:
                        p.wait(30)
                    except subprocess.TimeoutExpired:
                        os.killpg(p.pid, signal.SIGKILL)
                        p.wait()

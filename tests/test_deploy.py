"""deploy/ checked against the real schemas: KubeRay's CRDs (../shared/kuberay-crds) for RayCluster, RayJob and
RayCronJob, and the Kubernetes core schemas (kubernetes-validate) for everything else. Nothing here talks to a
cluster: there is none on this machine."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.config import CONFIG_DIR, load_config
from tests.conftest import REPO

DEPLOY = REPO / "deploy" / "kuberay"
CRDS = REPO.parent / "shared" / "kuberay-crds"
K8S_VERSION = "1.33.0"


def documents() -> list[tuple[str, dict]]:
    return [
        (f"{p.name}#{i}", doc)
        for p in sorted(DEPLOY.glob("*.yaml"))
        for i, doc in enumerate(yaml.safe_load_all(p.read_text()))
        if doc
    ]


def crd_schema(kind: str) -> dict:
    if not CRDS.exists():
        pytest.skip(f"KubeRay CRDs not available at {CRDS}")
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["names"]["kind"] == kind:
            return next(v for v in crd["spec"]["versions"] if v["name"] == "v1")["schema"]["openAPIV3Schema"]
    raise AssertionError(f"no CRD for {kind}")


def unknown_fields(value, schema: dict, where: str = "") -> list[str]:
    """Keys the schema does not declare: a structural schema prunes them silently, so typos would vanish."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    found = []
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key not in schema["properties"]:
                found.append(f"{where}.{key}")
            else:
                found += unknown_fields(item, schema["properties"][key], f"{where}.{key}")
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, item in value.items():
            found += unknown_fields(item, schema["additionalProperties"], f"{where}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += unknown_fields(item, schema["items"], f"{where}[{i}]")
    return found


def validate_crd(doc: dict) -> None:
    import jsonschema

    schema = crd_schema(doc["kind"])
    jsonschema.validate(doc, schema, cls=jsonschema.Draft7Validator)
    assert unknown_fields(doc, schema) == []


@pytest.mark.parametrize("name,doc", documents(), ids=[n for n, _ in documents()])
def test_manifest_matches_its_schema(name, doc):
    if doc["apiVersion"].startswith("ray.io/"):
        validate_crd(doc)
    else:
        import kubernetes_validate

        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_rayjob_inside_the_cronjob_configmap_is_valid():
    (configmap,) = [d for _, d in documents() if d["kind"] == "ConfigMap"]
    validate_crd(yaml.safe_load(configmap["data"]["rayjob.yaml"]))


def test_scheduling_policy_and_gpu_limits():
    docs = {d["kind"]: d for _, d in documents()}
    cron = docs["CronJob"]["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    assert cron["successfulJobsHistoryLimit"] >= 1 and cron["failedJobsHistoryLimit"] >= 1
    assert docs["RayCronJob"]["spec"]["schedule"] == cron["schedule"]
    groups = {g["groupName"]: g for g in docs["RayCluster"]["spec"]["workerGroupSpecs"]}
    gpu = groups["gpu-model"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert gpu["nvidia.com/gpu"] == "1" and groups["gpu-model"]["rayStartParams"]["num-gpus"] == "1"
    assert all(g["minReplicas"] <= g["replicas"] <= g["maxReplicas"] for g in groups.values())
    # decode workers ask for cpu_node (configs/cluster.yaml): only the CPU group may advertise it
    import json

    advertised = json.loads(json.loads(groups["cpu-decode"]["rayStartParams"]["resources"]))
    assert set(load_config("cluster.yaml").ray.decode_resources) <= set(advertised)
    assert "resources" not in groups["gpu-model"]["rayStartParams"]


def test_entrypoints_name_configs_that_load():
    entrypoints = [d["spec"]["entrypoint"] for _, d in documents() if d["kind"] == "RayJob"]
    entrypoints += [d["spec"]["jobTemplate"]["entrypoint"] for _, d in documents() if d["kind"] == "RayCronJob"]
    assert len(entrypoints) == 2
    for entry in entrypoints:
        args = entry.split()
        assert args[:2] == ["vidseek", "ingest"]
        config = Path(args[args.index("--config") + 1])
        assert config.parent == Path("/app/configs")  # where deploy/Dockerfile puts configs/
        assert load_config(CONFIG_DIR / config.name).ray.address == "auto"


def test_dockerfile_installs_the_package_with_gpu_and_cloud_extras():
    text = (REPO / "deploy" / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM nvidia/cuda:" in text and "pip install '.[gpu,cloud]'" in text
    copied = [line.split()[1:-1] for line in text.splitlines() if line.startswith("COPY")]
    assert sorted(x for group in copied for x in group) == [
        "README.md",
        "configs",
        "pipeline",
        "pyproject.toml",
        "workers",
    ]

"""charts/liftwing-triton with the real helm: lint, template, KServe CRD schemas, and
agreement with what the local `lwt serve` uses."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration import crd_schema

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "liftwing-triton"
ENVIRONMENTS = sorted(p.name for p in CHART.glob("values-*.yaml"))
HELM = shutil.which("helm", path=str(Path(sys.executable).parent)) or shutil.which("helm")


@pytest.fixture(scope="module")
def schemas():
    return crd_schema.load_schemas(ROOT / "charts" / "crds")


def helm(*args: str) -> subprocess.CompletedProcess:
    assert HELM, "helm is installed by `make setup` (charts/install_helm.py)"
    return subprocess.run([HELM, *args], capture_output=True, text=True, timeout=120)


def render(*values: Path, extra: tuple[str, ...] = ()) -> list[dict]:
    args = ["template", "lwt", str(CHART), "--namespace", "ml"]
    for v in values:
        args += ["-f", str(v)]
    result = helm(*args, *extra)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def test_three_environments_ship():
    assert ENVIRONMENTS == ["values-experimental.yaml", "values-production.yaml", "values-staging.yaml"]


@pytest.mark.parametrize("values", ENVIRONMENTS)
def test_helm_lint_passes(values):
    result = helm("lint", str(CHART), "-f", str(CHART / values), "--strict")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values", ENVIRONMENTS)
def test_rendered_objects_fit_kserve_crd_schemas(values, schemas):
    docs = render(CHART / values)
    kinds = [d["kind"] for d in docs]
    assert kinds.count("ServingRuntime") == 2 and "InferenceService" in kinds and "ServiceAccount" in kinds
    for doc in docs:
        if doc["apiVersion"].startswith("serving.kserve.io"):
            assert crd_schema.errors(doc, schemas) == [], (doc["kind"], doc["metadata"]["name"])


def test_cluster_serving_runtime_variant_fits_too(schemas):
    docs = render(CHART / "values-production.yaml", extra=("--set", "triton.runtimeKind=ClusterServingRuntime"))
    runtimes = [d for d in docs if d["kind"] == "ClusterServingRuntime"]
    assert len(runtimes) == 2 and all("namespace" not in r["metadata"] for r in runtimes)
    assert all(crd_schema.errors(r, schemas) == [] for r in runtimes)


def test_the_validator_can_fail(schemas):
    """An unknown field, a wrong type and a missing required field are each caught."""
    isvc = next(d for d in render(CHART / "values-production.yaml") if d["kind"] == "InferenceService")
    isvc["spec"]["predictor"]["storageUrl"] = "typo"
    isvc["spec"]["predictor"]["minReplicas"] = "two"
    del isvc["spec"]["predictor"]["model"]["modelFormat"]["name"]
    problems = "\n".join(crd_schema.errors(isvc, schemas))
    assert "storageUrl" in problems and "'two' is not of type 'integer'" in problems and "'name' is a required" in problems


def test_runtimes_serve_v2_http_grpc_cpu_and_gpu():
    runtimes = {d["metadata"]["name"]: d for d in render(CHART / "values-production.yaml") if d["kind"] == "ServingRuntime"}
    cpu, gpu = runtimes["lwt-triton-cpu"], runtimes["lwt-triton-gpu"]
    for runtime in (cpu, gpu):
        assert runtime["spec"]["protocolVersions"] == ["v2", "grpc-v2"]
        container = runtime["spec"]["containers"][0]
        assert container["image"] == "nvcr.io/nvidia/tritonserver:26.07-py3"  # without 2.51's crash, nor 2026's bulletins
        restricted = [a for a in container["args"] if a.startswith("--http-restricted-api=")]
        assert restricted and "model-repository" in restricted[0] and "$(TRITON_ADMIN_KEY)" in restricted[0]
        assert container["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "liftwing-triton-admin"
        assert "--model-control-mode=explicit" in container["args"] and "--load-model={{.Name}}" in container["args"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert "nvidia.com/gpu" in gpu["spec"]["containers"][0]["resources"]["limits"]
    assert "nvidia.com/gpu" not in cpu["spec"]["containers"][0]["resources"]["limits"]


def _keys(node: object) -> list[str]:
    if isinstance(node, dict):
        return [k for k, v in node.items() for k in [k, *_keys(v)]]
    if isinstance(node, list):
        return [k for item in node for k in _keys(item)]
    return []


def test_no_credential_anywhere_in_values_or_output():
    for values in ["values.yaml", *ENVIRONMENTS]:
        keys = [k.lower() for k in _keys(yaml.safe_load((CHART / values).read_text()))]
        assert not [k for k in keys if any(w in k for w in ("password", "accesskey", "secretkey", "token"))]
    rendered = helm("template", "lwt", str(CHART), "-f", str(CHART / "values-production.yaml")).stdout
    assert not [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Secret"]
    assert "AWS_SECRET_ACCESS_KEY" not in rendered and "AWS_ACCESS_KEY_ID" not in rendered
    account = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "ServiceAccount")
    assert account["secrets"] == [{"name": "liftwing-triton-swift"}]
    assert set(account["metadata"]["annotations"]) == {
        "serving.kserve.io/s3-endpoint", "serving.kserve.io/s3-usehttps", "serving.kserve.io/s3-region"}


def test_generated_values_deploy_a_new_model_and_agree_with_lwt_serve(lwt, tmp_path, schemas):
    """`lwt chart values` from the shipped repository: its storageUri is where `lwt push`
    puts the model and what `lwt serve --repository` reads; the ports are `lwt serve`'s."""
    generated = tmp_path / "models.yaml"
    result = subprocess.run([*lwt, "chart", "values", "--repository", str(ROOT / "model_repository"),
                             "--storage-uri", "s3://models/prod", "--output", str(generated)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    docs = render(CHART / "values-production.yaml", generated)
    isvc = next(d for d in docs if d["kind"] == "InferenceService" and d["metadata"]["name"] == "enwiki-reverted")
    assert crd_schema.errors(isvc, schemas) == []
    predictor = isvc["spec"]["predictor"]
    assert predictor["model"]["storageUri"] == "s3://models/prod/enwiki-reverted"
    assert predictor["model"]["modelFormat"]["name"] == "onnx" and predictor["model"]["runtime"] == "lwt-triton-cpu"
    args = isvc["spec"]["transformer"]["containers"][0]["args"]
    assert "--models=enwiki-reverted" in args and "--repository=/mnt/models" in args
    # The local equivalents: serve's defaults and the services' accepted KServe flags.
    serve_help = subprocess.run([*lwt, "serve", "--help"], capture_output=True, text=True).stdout
    runtime = next(d for d in docs if d["kind"] == "ServingRuntime" and d["metadata"]["name"] == "lwt-triton-cpu")
    container_args = runtime["spec"]["containers"][0]["args"]
    for flag, default in (("http-port", 8000), ("grpc-port", 8001), ("metrics-port", 8002)):
        assert f"--{flag}={default}" in container_args and f"(default {default})" in serve_help
    services_help = subprocess.run([*lwt, "services", "--help"], capture_output=True, text=True).stdout
    for kserve_flag in ("--predictor_host", "--model_name", "--http_port"):
        assert kserve_flag in services_help  # what KServe appends to a transformer's args
    local = subprocess.run([*lwt, "services", "--repository", str(ROOT / "model_repository"), "--model_name",
                            "enwiki-reverted", "--predictor_host", "127.0.0.1:1", "--http_port", "0", "--help"],
                           capture_output=True, text=True)
    assert local.returncode == 0


def test_dockerfile_matches_the_project():
    dockerfile = (ROOT / "charts" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["lwt"]' in dockerfile and "python:3.11" in dockerfile
    assert "revscoring==2.11.13" in dockerfile and "pip install" in dockerfile and "/mnt/models" in dockerfile

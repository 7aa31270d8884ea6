"""What deploy/ and the container files promise: a hardened systemd unit that runs the command
docs/operations.md gives, and base images pinned by digest."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from registry_node import config as configmod

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "systemd" / "registry-node.service"


def _unit() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key, []).append(value)
    return settings


def test_the_systemd_unit_runs_the_documented_command_as_its_own_user() -> None:
    unit = _unit()
    operations = (ROOT / "docs" / "operations.md").read_text()
    [command] = unit["ExecStart"]
    assert f"`{command}`" in operations
    assert unit["User"] == ["registry"]
    assert "useradd --system" in operations and " registry\n" in operations
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]


def test_the_systemd_unit_is_hardened() -> None:
    unit = _unit()
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "RestrictSUIDSGID": "yes",
        "CapabilityBoundingSet": "",
        "UMask": "0077",
    }.items():
        assert unit.get(key) == [value], key
    # The one folder it writes: data_dir, node.yaml's `data` next to it.
    [workdir] = unit["WorkingDirectory"]
    assert unit["ReadWritePaths"] == [f"{workdir}/data"]
    assert unit["RestartPreventExitStatus"] == ["2"]  # a configuration mistake


def test_container_base_images_are_pinned_by_digest() -> None:
    digest = re.compile(r"@sha256:[0-9a-f]{64}\b")
    dockerfile = (ROOT / "Dockerfile").read_text()
    [base] = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.M)
    assert digest.search(base), base
    for line in dockerfile.splitlines():
        if line.startswith("FROM "):
            assert line.split()[1] == "${PYTHON_IMAGE}", line
    compose = (ROOT / "compose.yaml").read_text()
    images = re.findall(r"^\s+image:\s*(\S+)", compose, re.M)
    pulled = [i for i in images if i != "registry-node:local"]  # built here
    assert pulled
    for image in pulled:
        assert digest.search(image), image


def test_the_replicas_compose_file_runs_two_replicas_of_one_node_on_one_database() -> None:
    """compose.replicas.yaml (docs/operations.md section 14): images pinned or built here,
    every mounted file present, two replicas with one configuration that shares the database
    and the key folder, each with a data folder of its own, behind the load balancer."""
    compose = yaml.safe_load((ROOT / "compose.replicas.yaml").read_text())
    services = compose["services"]
    digest = re.compile(r"@sha256:[0-9a-f]{64}\b")
    for name, service in services.items():
        image = service.get("image")
        assert image == "registry-node:local" or "build" in service or digest.search(image), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), (name, source)
    built = (ROOT / "deploy/compose/replicas/postgres.Dockerfile").read_text()
    [base] = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", built, re.M)
    assert digest.search(base), base
    replicas = [services["oh-1"], services["oh-2"]]
    mounts = [{v.split(":")[1]: v.split(":")[0] for v in r["volumes"]} for r in replicas]
    assert mounts[0]["/var/lib/registry-keys"] == mounts[1]["/var/lib/registry-keys"] == "keys"
    assert mounts[0]["/var/lib/registry-node"] != mounts[1]["/var/lib/registry-node"]
    assert mounts[0]["/etc/registry-node"] == mounts[1]["/etc/registry-node"]
    config = configmod.load(ROOT / "deploy/compose/replicas/node.yaml")
    assert config.database == "postgresql://registry@db:5432/registry"
    assert config.keys_dir == Path("/var/lib/registry-keys")
    assert config.data_dir == Path("/var/lib/registry-node")
    nginx = (ROOT / "deploy/compose/replicas/nginx.conf").read_text()
    assert "server oh-1:8080" in nginx and "server oh-2:8080" in nginx
    assert services["lb"]["ports"] == ["127.0.0.1:8090:8080"]

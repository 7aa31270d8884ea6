"""What deploy/ and the container files promise: a hardened systemd unit that runs the command
docs/operations.md gives, and base images pinned by digest."""

from __future__ import annotations

import re
from pathlib import Path

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

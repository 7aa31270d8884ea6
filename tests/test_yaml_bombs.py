"""YAML that would expand or nest without bound is refused as it is read, with one line naming
the file: anchors and aliases (the "billion laughs" shape), deep nesting, and values strict JSON
refuses (docs/protocol.md section 2.4). The shapes here are kept small (a few thousand nodes if
they were expanded), so that a loader that expanded them would fail these tests, not hang them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from registry_node import config as configmod
from registry_node.core.errors import ConfigError, Malformed
from registry_node.core.yamlsafe import load_yaml
from registry_node.http.appkeys import NODE
from tests.helpers import issuer
from tests.test_cli import run, state  # noqa: F401 - fixture

ALIASES = "anchors and aliases (& and *) are not allowed"


def laughs(levels: int = 4, width: int = 6) -> str:
    """Anchors that each refer ``width`` times to the previous one; the last one is ``*l<N>``."""
    lines = [f"x-l0: &l0 [{', '.join(['lol'] * width)}]"]
    for n in range(1, levels):
        lines.append(f"x-l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def peers_bomb() -> str:
    return laughs() + "peers: *l3\n"


def history_bomb() -> str:
    entry = issuer(1)
    del entry["status_history"]
    body = json.dumps({"jurisdiction": "US-IN", "issuers": [entry]})
    # an anchored list of statuses, repeated where the entry's history is expected
    return laughs() + body[:-3] + ', "status_history": *l3}]}\n'


def test_the_shape_is_valid_yaml_that_expands() -> None:
    import yaml

    doc = yaml.safe_load(peers_bomb())
    assert len(doc["peers"]) == 6 and len(doc["peers"][0][0][0]) == 6  # 6**4 leaves in all


@pytest.mark.parametrize(
    "text",
    [peers_bomb(), history_bomb(), "a: &x 1\n", "a: *x\n", "base: &b {k: 1}\nother:\n  <<: *b\n"],
)
def test_anchors_and_aliases_are_refused(text: str) -> None:
    with pytest.raises(Malformed, match=r"^peers\.yaml:\d+: not valid YAML: anchors") as caught:
        load_yaml(text, "peers.yaml")
    assert caught.value.code == "yaml_invalid"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("a: " + "[" * 5000 + "]" * 5000, "nested deeper than 64"),
        ("a:\n" + "".join("  " * n + "- \n" for n in range(1, 200)), "nested deeper than 64"),
        ("a: " + "1" * 5000, "digits"),
        ('a: "\\ud800"', "lone surrogate"),
        ("a: .inf", "not allowed"),
        ("a: [.nan]", "not allowed"),
    ],
)
def test_values_strict_json_refuses_are_refused(text: str, why: str) -> None:
    with pytest.raises(Malformed, match=why):
        load_yaml(text, "source.yaml")


def test_peers_check_refuses_the_bomb_in_one_line(
    state: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    (state / "peers.yaml").write_text(peers_bomb())
    code, _, err = run(capsys, "peers", "check")
    assert code != 0
    first = err.strip().splitlines()[0]
    assert "peers.yaml:" in first
    assert ALIASES in first


def test_issuer_import_refuses_the_bomb_in_a_status_history(
    state: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = state / "more.yaml"
    source.write_text(history_bomb())
    code, out, err = run(capsys, "issuers", "import", str(source))
    assert code != 0
    assert f"{source}:" in err and ALIASES in err
    assert "created" not in out


def test_node_yaml_with_the_bomb_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "node.yaml"
    path.write_text(laughs() + "peers_file: *l3\n")
    with pytest.raises(ConfigError) as caught:
        configmod.load(path)
    assert caught.value.detail.startswith(f"{path}:")
    assert ALIASES in caught.value.detail


async def test_admin_import_refuses_the_bomb(client: TestClient, auth: dict[str, str]) -> None:
    headers = {**auth, "Content-Type": "application/yaml"}
    resp = await client.post("/admin/v1/import", data=history_bomb(), headers=headers)
    assert resp.status == 400
    assert resp.content_type == "application/problem+json"
    body: dict[str, Any] = await resp.json()
    assert body["code"] == "yaml_invalid"
    assert ALIASES in body["detail"]
    assert await client.app[NODE].issuers.all() == []


async def test_admin_import_refuses_deep_yaml(client: TestClient, auth: dict[str, str]) -> None:
    headers = {**auth, "Content-Type": "application/yaml"}
    deep = "jurisdiction: US-IN\nissuers: " + "[" * 3000 + "]" * 3000 + "\n"
    resp = await client.post("/admin/v1/import", data=deep, headers=headers)
    assert resp.status == 400
    assert (await resp.json())["code"] == "yaml_invalid"


async def test_peers_reload_refuses_the_bomb(
    client: TestClient, auth: dict[str, str], tmp_path: Path
) -> None:
    client.app[NODE].config.peers_file.write_text(peers_bomb())
    resp = await client.post("/admin/v1/peers/reload", headers=auth)
    assert resp.status == 422
    body = await resp.json()
    assert body["code"] == "peers_invalid"
    assert ALIASES in body["detail"]

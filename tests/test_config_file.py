"""Client.from_config: TOML, YAML, dicts, ${ENV} secrets, and errors that name the key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import llmprod
from llmprod._client.config_file import describe_config, load_config

GOOD = """
deployments = [
  { provider = "simulated", model = "sim-a", seed = 1 },
  { name = "pool", balance = "round_robin", replicas = [
      { provider = "simulated", model = "sim-b" },
      { provider = "simulated", model = "sim-c" },
  ] },
]
retry = false
[timeout]
total = 5
[cache]
ttl = 60
"""


def test_toml_file_builds_a_working_client(tmp_path: Path) -> None:
    path = tmp_path / "llmprod.toml"
    path.write_text(GOOD)
    with llmprod.Client.from_config(path) as client:
        assert client.chat("hello").text
    spec = load_config(path)
    assert isinstance(spec.deployments[1], llmprod.Deployment)
    assert spec.options["retry"] is None
    assert spec.options["cache"] == llmprod.Cache(ttl=60)


def test_yaml_file(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    path = tmp_path / "llmprod.yaml"
    path.write_text("deployments:\n  - provider: simulated\n    model: sim-y\nretry:\n  attempts: 2\n")
    spec = load_config(path)
    assert spec.options["retry"] == llmprod.Retry(attempts=2)


def test_env_references_are_resolved_and_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMPROD_TEST_KEY", "sk-test-config-secret")
    spec = load_config(
        {"deployments": [{"provider": "openai", "model": "gpt-4o-mini", "api_key": "${LLMPROD_TEST_KEY}"}]}
    )
    backend = spec.deployments[0]
    assert "sk-test-config-secret" not in describe_config(spec)
    assert "sk-test-config-secret" not in repr(backend)


@pytest.mark.parametrize(
    ("config", "path", "expected"),
    [
        ({}, "deployments", "non-empty list"),
        ({"deployments": []}, "deployments", "non-empty list"),
        ({"deployments": [{"model": "x"}]}, "deployments[0].provider", "expected one of"),
        ({"deployments": [{"provider": "simulated", "modle": "x"}]}, "deployments[0].modle", "unknown key"),
        ({"deployments": [{"provider": "simulated", "failure_rate": 3}]}, "deployments[0]", "failure_rate"),
        (
            {"deployments": [{"provider": "simulated"}], "retry": {"attempts": "three"}},
            "retry.attempts",
            "expected int",
        ),
        ({"deployments": [{"provider": "simulated"}], "retry": {"attempts": 0}}, "retry.attempts", ">= 1"),
        ({"deployments": [{"provider": "simulated"}], "cache": {"ttl_seconds": 3}}, "cache.ttl_seconds", "unknown key"),
        ({"deployments": [{"provider": "simulated"}], "pii": {"mode": "blur"}}, "pii.mode", "'mask' or 'pseudonymize'"),
        ({"deployments": [{"provider": "simulated"}], "caches": {}}, "caches", "unknown section"),
        ({"deployments": [{"provider": "simulated"}], "retry": 3}, "retry", "expected a table"),
        (
            {"deployments": [{"provider": "simulated", "model": "${LLMPROD_SURELY_UNSET}"}]},
            "deployments[0].model",
            "LLMPROD_SURELY_UNSET",
        ),
        ({"deployments": [{"replicas": []}]}, "deployments[0].replicas", "non-empty list"),
        (
            {"deployments": [{"replicas": [{"provider": "nope"}]}]},
            "deployments[0].replicas[0].provider",
            "expected one of",
        ),
        (
            {"deployments": [{"replicas": [{"provider": "simulated"}], "hedge": {"max_extra": 5}}]},
            "deployments[0].hedge.max_extra",
            "within",
        ),
    ],
)
def test_errors_name_the_key_path(config: dict[str, Any], path: str, expected: str) -> None:
    with pytest.raises(llmprod.ConfigError) as info:
        load_config(config)
    assert info.value.path == path
    assert expected in str(info.value)


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("deployments = [")
    with pytest.raises(llmprod.ConfigError, match="invalid TOML"):
        load_config(bad)
    with pytest.raises(llmprod.ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")

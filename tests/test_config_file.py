"""Client.from_config: TOML, YAML, dicts, ${ENV} secrets, and errors that name the key path."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

import llmprod
from llmprod._client.config_file import CLIENT_KEYS, TOP_LEVEL, ConfigFileError, describe_config, load_config

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
        ({"deployments": [{"provider": "simulated", "failure_rate": 3}]}, "deployments[0].failure_rate", "within"),
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


# ---------------------------------------------------------------- every problem at once, with lines

MANY_PROBLEMS = """\
deployments = [
  { provider = "simulated", model = 3 },
  { provider = "simulatd", model = "x" },
]
hooks = ["tests.no_such_module:Hook"]

[retry]
atempts = 3
initial = nan

[cache]
ttl = inf

[caches]
x = 1
"""


def test_every_problem_in_a_file_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "llmprod.toml"
    path.write_text(MANY_PROBLEMS)
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    found = [(p.line, p.path) for p in info.value.problems]
    assert found == [
        (2, "deployments[0].model"),
        (3, "deployments[1].provider"),
        (5, "hooks[0]"),
        (8, "retry.atempts"),
        (9, "retry.initial"),
        (12, "cache.ttl"),
        (14, "caches"),
    ]
    text = str(info.value)
    assert text.startswith(f"7 problems in {path}:\n  line 2: deployments[0].model: expected str, got 3")
    assert "did you mean 'simulated'?" in text
    assert "retry.atempts: unknown key; did you mean 'attempts'?" in text
    assert "caches: unknown section; did you mean 'cache'?" in text
    assert "must be a finite number, got nan" in text and "got inf" in text
    assert isinstance(info.value, llmprod.ConfigError) and info.value.path == "deployments[0].model"


def test_a_json_file_is_read_as_json_with_lines_in_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "llmprod.json"
    config = {"deployments": [{"provider": "simulated", "model": "sim-j"}], "retry": {"attempts": 2}}
    path.write_text(json.dumps(config))
    spec = load_config(path)
    assert spec.options["retry"] == llmprod.Retry(attempts=2)
    path.write_text('{\n  "deployments": [{"provider": "simulated"}],\n  "retry": {"atempts": 2}\n}\n')
    with pytest.raises(ConfigFileError, match=r"line 3: retry.atempts: unknown key; did you mean 'attempts'"):
        load_config(path)
    path.write_text('{"deployments": [NaN]}')  # Python's json accepts NaN: a number no setting takes
    with pytest.raises(llmprod.ConfigError, match="finite number"):
        load_config(path)
    path.write_text('{\n  "deployments": [\n}')
    with pytest.raises(llmprod.ConfigError, match=r"invalid JSON .* line 3"):
        load_config(path)


def test_yaml_errors_carry_lines_too(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    path = tmp_path / "llmprod.yaml"
    path.write_text("deployments:\n  - provider: simulated\n    model: 3\nretry:\n  attempts: 0\n")
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    assert [(p.line, p.path) for p in info.value.problems] == [(3, "deployments[0].model"), (5, "retry.attempts")]


def test_check_config_reports_a_wrong_type_cleanly(tmp_path: Path) -> None:
    """`model = 3` in a simulated deployment used to end check-config in a TypeError traceback."""
    path = tmp_path / "llmprod.toml"
    path.write_text('deployments = [{ provider = "simulated", model = 3 }]\n')
    done = subprocess.run(
        [sys.executable, "-m", "llmprod", "check-config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == f"error: {path} line 1: deployments[0].model: expected str, got 3"


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "llmprod.toml"
    path.write_bytes('deployments = [{ provider = "simulated", model = "café" }]\n'.encode("latin-1"))
    with pytest.raises(llmprod.ConfigError, match="not UTF-8"):
        load_config(path)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "+nan"])
def test_toml_nan_and_inf_are_refused(tmp_path: Path, value: str) -> None:
    path = tmp_path / "llmprod.toml"
    path.write_text(f'deployments = [{{ provider = "simulated" }}]\n[budget]\nhard = {value}\n')
    with pytest.raises(llmprod.ConfigError, match=r"line 3: budget.hard: must be a finite number"):
        load_config(path)


# ---------------------------------------------------------------- everything the Python API can set


def test_every_client_argument_has_a_config_key() -> None:
    parameters = set(inspect.signature(llmprod.AsyncClient.__init__).parameters) - {"self"}
    assert parameters <= set(CLIENT_KEYS), sorted(parameters - set(CLIENT_KEYS))
    assert set(CLIENT_KEYS.values()) <= set(TOP_LEVEL)


FULL = """\
deployments = [
  { provider = "simulated", model = "sim-broken", failure_rate = 1.0, faults = ["server_error"], seed = 1 },
]
hooks = ["tests.config_targets:Recorder", { use = "tests.config_targets:Recorder", with = { label = "second" } }]
fallback = "tests.config_targets:canned_answer"

[telemetry]
stats_window = 60
metric_labels = { team = "search" }

[budget]
hard = 100.0
soft = 0.000001
on_soft = "tests.config_targets:notify"

[guards]
output_classifiers = ["tests.config_targets:no_tickets"]

[router]
threshold = 0.7
escalate = "tests.config_targets:prefer_large"

[access]
keys = [{ name = "team-a", key = "${LLMPROD_TEST_TEAM_KEY}", tenant = "a", rate_limit = { requests_per_minute = 600 } }]

[prices]
files = ["team-prices.toml"]

[prometheus]
port = 0
"""


def test_hooks_callbacks_access_router_prices_and_prometheus_from_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("prometheus_client")
    from tests import config_targets

    monkeypatch.setenv("LLMPROD_TEST_TEAM_KEY", "sk-team-a-from-env")
    (tmp_path / "team-prices.toml").write_text('[[model]]\nname = "sim-team-model"\ninput = 7.0\noutput = 9.0\n')
    path = tmp_path / "llmprod.toml"
    path.write_text(FULL)
    spec = load_config(path)
    options = spec.options
    hooks = options["hooks"]
    assert [type(h).__name__ for h in hooks] == ["Recorder", "Recorder", "PrometheusHook"]
    assert hooks[1].label == "second"
    assert options["fallback"] is config_targets.canned_answer
    assert options["budget"].on_soft is config_targets.notify
    assert list(options["guards"].output_classifiers) == [config_targets.no_tickets]
    assert options["router"].threshold == 0.7 and options["router"].escalate is config_targets.prefer_large
    assert options["telemetry"] == llmprod.Telemetry(stats_window=60, metric_labels={"team": "search"})
    assert "sk-team-a-from-env" not in repr(options["access"])
    assert llmprod.cost.prices.find("sim-team-model").source == "file team-prices.toml"  # type: ignore[union-attr]
    server = spec.metrics_server
    assert server is not None and server.port > 0
    config_targets.Recorder.finished.clear()
    with llmprod.Client(spec.deployments, **{k: v for k, v in options.items() if k != "router"}) as client:
        answer = client.chat("hello", api_key="sk-team-a-from-env", max_tokens=5)
        assert answer.text == "canned answer after ServerError"  # every attempt failed: the fallback answered
        with pytest.raises(llmprod.AccessDeniedError):
            client.chat("hello", api_key="sk-someone-else")
    assert len(config_targets.Recorder.finished) == 2 * 2  # two hooks saw both calls
    body = httpx.get(f"http://127.0.0.1:{server.port}/metrics").text
    assert "llmprod_requests_total{" in body


def test_check_config_does_not_start_the_metrics_endpoint(tmp_path: Path) -> None:
    pytest.importorskip("prometheus_client")
    path = tmp_path / "llmprod.toml"
    path.write_text('deployments = [{ provider = "simulated" }]\n[prometheus]\nport = 0\n')
    assert load_config(path, apply=False).metrics_server is None
    assert load_config(path).metrics_server is not None


def test_objects_named_by_import_path_report_what_is_wrong(tmp_path: Path) -> None:
    config = {
        "deployments": [{"provider": "simulated"}],
        "hooks": [
            "tests.config_targets:nothing_here",
            "tests.config_targets",
            {"use": "tests.config_targets:Recorder", "with": {"colour": 1}},
        ],
        "fallback": 3,
    }
    with pytest.raises(ConfigFileError) as info:
        load_config(config)
    messages = {p.path: p.message for p in info.value.problems}
    assert "has no attribute 'nothing_here'" in messages["hooks[0]"]
    assert "'tests.config_targets' is not callable" in messages["hooks[1]"]
    assert "unexpected keyword argument 'colour'" in messages["hooks[2]"]
    assert "import path" in messages["fallback"]


def test_a_users_own_layer_comes_from_the_file_and_sits_where_it_says() -> None:
    config = {
        "deployments": [{"provider": "simulated", "model": "sim-small"}],
        "cache": {"ttl": 60},
        "layers": [{"name": "audit", "use": "tests.config_targets:PassThrough", "before": "cache"}],
    }
    with llmprod.Client.from_config(config) as client:
        assert client.chat("hi").text
        names = [line.split()[0] for line in client.describe().splitlines() if line.startswith("  ")]
    assert names.index("audit") == names.index("cache") - 1


def test_a_misplaced_layer_in_the_file_is_a_config_error_with_its_path() -> None:
    config = {
        "deployments": [{"provider": "simulated", "model": "sim-small"}],
        "layers": [{"name": "audit", "use": "tests.config_targets:PassThrough", "before": "nowhere"}],
    }
    with pytest.raises(llmprod.ConfigError, match=r"layers.audit: no layer named .nowhere."):
        llmprod.Client.from_config(config)

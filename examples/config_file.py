"""Build a client from a TOML file, and see what a bad file says."""

from pathlib import Path

import llmprod

here = Path(__file__).parent
with llmprod.Client.from_config(here / "llmprod.toml") as client:
    print(client.chat("hello from a config file", max_tokens=10).text)

try:
    llmprod.Client.from_config({"deployments": [{"provider": "simulated", "model": 3}]})
except llmprod.ConfigError as exc:
    print("ConfigError:", exc)

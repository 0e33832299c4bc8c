"""The Rasa server's entry point (rasa_addons/server.py) is the only place that patches Rasa."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rasa_addons.server import RasaVersionError, check_rasa_version, main
from tests.conftest import ROOT

# Rasa's pieces that the entry point replaces, as a subprocess sees them (the test process stays unpatched).
PATCHED = """
import importlib, json, pkgutil, sys
import rasa.core.actions.action as action
import rasa.core.run
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.utils.endpoints import EndpointConfig

def state():
    return {"validate": action.RemoteAction._validate_action_result.__module__, "graph": DaskGraphRunner.run.__module__,
            "session": EndpointConfig.session.__module__, "action_timeout": action.DEFAULT_REQUEST_TIMEOUT,
            "server_timeouts": hasattr(rasa.core.run.configure_app, "__wrapped__")}

before = state()
for package in ("actions", "channels", "rasa_addons", "staff"):
    for module in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
        importlib.import_module(module.name)
imported = state()
import rasa_addons.server
line = rasa_addons.server.prepare({"ACTION_TIMEOUT": "3", "KEEP_ALIVE_TIMEOUT": "7"})
print(json.dumps({"before": before, "imported": imported, "prepared": state(), "line": line}))
"""


def test_importing_any_module_patches_nothing_and_the_entry_point_patches_all() -> None:
    done = subprocess.run([sys.executable, "-c", PATCHED], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["imported"] == result["before"]
    assert result["before"]["action_timeout"] == 300  # Rasa's own: five minutes
    assert result["prepared"] == {"validate": "rasa_addons.speedups", "graph": "rasa_addons.speedups",
                                  "session": "rasa_addons.speedups", "action_timeout": 3.0, "server_timeouts": True}
    assert result["line"].endswith("speed fixes applied, server timeouts request 10 s, response 60 s, keep-alive 7 s, "
                                   "custom actions bounded to 3 s")


def test_another_rasa_version_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("rasa-sdk==3.6.2\nrasa==3.6.0\n")
    with pytest.raises(RasaVersionError, match=r"Rasa 3\.6\.\d+ is installed, but requirements.lock pins 3\.6\.0"):
        check_rasa_version(lock)
    assert check_rasa_version() == (ROOT / "requirements.lock").read_text().split("rasa==")[1].split()[0]


def test_only_rasa_run_is_started(caplog) -> None:
    assert main(["train"]) == 2
    assert "Usage: python -m rasa_addons.server run <arguments of `rasa run`>" in caplog.text

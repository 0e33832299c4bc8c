"""deploy/ agrees with the project's own configuration: ports, environment variables, stores."""
import importlib.util
import re
from types import ModuleType
from typing import Any, Dict, List

import yaml

from tests.conftest import ROOT

SERVE = ROOT / "scripts" / "serve.py"
VARIABLE = re.compile(r"\$\{(\w+)\}")


def documents() -> List[Dict[str, Any]]:
    docs = []
    for path in sorted((ROOT / "deploy").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def find(kind: str, name: str) -> Dict[str, Any]:
    [doc] = [d for d in documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def container(name: str) -> Dict[str, Any]:
    [c] = find("Deployment", name)["spec"]["template"]["spec"]["containers"]
    return c


def env(c: Dict[str, Any]) -> Dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


def serve() -> ModuleType:
    """The run command, scripts/serve.py (a script, not in a package)."""
    spec = importlib.util.spec_from_file_location("serve", SERVE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def serve_defaults() -> Dict[str, str]:
    return serve().DEFAULTS


def test_every_variable_of_the_scaled_endpoints_is_set_for_rasa() -> None:
    needed = set(VARIABLE.findall((ROOT / "endpoints.scaled.yml").read_text()))
    assert needed <= set(env(container("rasa"))), needed - set(env(container("rasa")))
    # and the run command knows them all too (defaults or generated)
    assert needed - {"ACTION_SERVER_URL", "ACTION_SERVER_TOKEN"} <= set(serve_defaults())


def test_rasa_runs_the_scaled_endpoints_with_the_api_behind_the_token() -> None:
    c = container("rasa")
    args = c["args"]
    assert "--endpoints=endpoints.scaled.yml" in args
    assert "--credentials=credentials.yml" in args
    assert "--enable-api" in args and "--auth-token=$(RASA_AUTH_TOKEN)" in args
    assert find("Deployment", "rasa")["spec"]["replicas"] >= 2


def test_both_servers_start_as_under_make_run(monkeypatch) -> None:
    """The manifests start the servers with the run command's entry points: the Rasa server with
    the pinned-version check, speed fixes and action timeout (rasa_addons/server.py)."""
    for variable in ("RASA_MODEL", "RASA_ENDPOINTS", "RASA_CREDENTIALS", "CORS_ORIGINS", "ACTION_PORT", "RASA_PORT"):
        monkeypatch.setenv(variable, "x")
    actions, rasa = serve().commands()
    assert ["python", *actions[1:3]] == container("actions")["command"] == ["python", "-m", "actions.server"]
    assert ["python", *rasa[1:4]] == container("rasa")["command"] == ["python", "-m", "rasa_addons.server", "run"]


def test_ports_agree() -> None:
    defaults = serve_defaults()
    rasa, actions = container("rasa"), container("actions")
    assert "--port=" + defaults["RASA_PORT"] in rasa["args"]
    assert rasa["ports"][0]["containerPort"] == int(defaults["RASA_PORT"])
    assert find("Service", "rasa")["spec"]["ports"][0]["port"] == int(defaults["RASA_PORT"])
    assert "--port=" + defaults["ACTION_PORT"] in actions["args"]
    assert actions["ports"][0]["containerPort"] == int(defaults["ACTION_PORT"])
    assert env(rasa)["ACTION_SERVER_URL"] == f"http://actions:{defaults['ACTION_PORT']}/webhook"
    assert find("Service", "actions")["spec"]["ports"][0]["port"] == int(defaults["ACTION_PORT"])
    assert int(env(rasa)["PG_PORT"]) == find("Service", "postgres")["spec"]["ports"][0]["port"] == int(defaults["PG_PORT"])
    assert int(env(rasa)["REDIS_PORT"]) == find("Service", "redis")["spec"]["ports"][0]["port"] == int(defaults["REDIS_PORT"])


def test_store_settings_agree() -> None:
    endpoints = yaml.safe_load((ROOT / "endpoints.scaled.yml").read_text())
    assert endpoints["tracker_store"]["dialect"] == "postgresql"
    from rasa.core.lock_store import RedisLockStore
    from rasa.shared.utils.common import class_from_module_path

    assert issubclass(class_from_module_path(endpoints["lock_store"]["type"]), RedisLockStore)
    rasa_env = env(container("rasa"))
    assert rasa_env["PG_HOST"] == "postgres" and rasa_env["REDIS_HOST"] == "redis"
    pg_env = env(find("StatefulSet", "postgres")["spec"]["template"]["spec"]["containers"][0])
    assert pg_env["POSTGRES_USER"] == rasa_env["PG_USER"]
    assert pg_env["POSTGRES_DB"] == rasa_env["PG_DB"] == serve_defaults()["PG_DB"]


def test_secrets_come_from_the_environment_secret_only() -> None:
    secret_names = {"RASA_AUTH_TOKEN", "ACTION_SERVER_TOKEN", "PG_PASSWORD", "POSTGRES_PASSWORD"}
    for doc in documents():
        for c in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            for e in c.get("env", []):
                if e["name"] in secret_names:
                    assert "value" not in e and e["valueFrom"]["secretKeyRef"]["name"] == "umb-assistant", e
    assert not [d for d in documents() if d["kind"] == "Secret"]  # made from .env at deploy time
    actions_env = env(container("actions"))
    assert actions_env["ACTION_SERVER_TOKEN"] == env(container("rasa"))["ACTION_SERVER_TOKEN"]


def test_action_server_is_internal_and_only_rasa_may_call_it() -> None:
    assert find("Service", "actions")["spec"]["type"] == "ClusterIP"
    policy = find("NetworkPolicy", "actions-from-rasa-only")["spec"]
    assert policy["podSelector"]["matchLabels"]["component"] == "actions"
    assert policy["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["component"] == "rasa"
    assert container("actions")["command"] == ["python", "-m", "actions.server"]

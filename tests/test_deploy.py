"""deploy/, the Dockerfile and compose.yaml agree with the project's own configuration: start command,
ports, environment variables, stores, files."""
import importlib.util
import json
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
    assert "--credentials=build/credentials.active.yml" in args
    assert "--enable-api" in args and "--auth-token=$(RASA_AUTH_TOKEN)" in args
    assert find("Deployment", "rasa")["spec"]["replicas"] >= 2


def test_both_servers_start_as_under_make_run(monkeypatch) -> None:
    """The manifests start the servers with the run command's entry points: the Rasa server with
    the pinned-version check, speed fixes and action timeout (rasa_addons/server.py)."""
    for variable in ("RASA_MODEL", "RASA_ENDPOINTS", "RASA_CREDENTIALS", "CORS_ORIGINS", "ACTION_PORT", "RASA_PORT"):
        monkeypatch.setenv(variable, "x")
    actions, rasa = serve().action_server_command(), serve().rasa_command()
    assert ["python", *actions[1:3]] == container("actions")["command"] == ["python", "-m", "actions.server"]
    shell, flag, script, _name = container("rasa")["command"]
    assert (shell, flag) == ("sh", "-c")
    # first the credentials of only the apps whose secrets are set (as the image does), then the entry point
    writes, runs = script.split(" && ")
    assert writes == "python -m channels.settings credentials.yml build/credentials.active.yml"
    assert runs == " ".join(["exec python", *rasa[1:4], '"$@"']) == 'exec python -m rasa_addons.server run "$@"'


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


def health_routes() -> List[str]:
    """The paths rasa_addons.health adds to the Rasa server's app."""
    import uuid

    from sanic import Sanic

    from rasa_addons import health

    app = Sanic(f"health_{uuid.uuid4().hex[:8]}")
    health.register(app)
    return ["/" + route.path for route in app.router.routes if route.path.startswith("health")]


def test_rasa_probes_ask_the_health_endpoints_and_the_stop_has_its_time() -> None:
    from rasa_addons.health import CHECK_TIMEOUT

    assert sorted(health_routes()) == ["/health/live", "/health/ready"]
    c = container("rasa")
    assert c["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["timeoutSeconds"] > CHECK_TIMEOUT  # the checks answer within it
    # Kubernetes kills the pod after its grace period: the notice and the requests' time fit in it
    rasa_env = env(c)
    spec = find("Deployment", "rasa")["spec"]
    assert float(rasa_env["STOP_NOTICE"]) > 0  # the Service drops the pod while it still serves
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] > float(rasa_env["STOP_NOTICE"]) + float(rasa_env["GRACEFUL_TIMEOUT"])
    assert float(rasa_env["GRACEFUL_TIMEOUT"]) > float(rasa_env["ACTION_TIMEOUT"])
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert rasa_env["LOG_FORMAT"] == env(container("actions"))["LOG_FORMAT"] == "json"


def test_secrets_come_from_the_environment_secret_only() -> None:
    secret_names = {"RASA_AUTH_TOKEN", "ACTION_SERVER_TOKEN", "PG_PASSWORD", "POSTGRES_PASSWORD", "LOG_PSEUDONYM_KEY"}
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


# The image (Dockerfile) and the one-host setup (compose.yaml) ----------------------------------------
# No container engine runs here: what is checked is that they agree with the project.

DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"


def dockerfile() -> List[str]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def instructions(name: str) -> List[str]:
    return [line[len(name) + 1:] for line in dockerfile() if line.split()[0] == name]


def compose() -> Dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def rasa_services() -> List[Dict[str, Any]]:
    services = compose()["services"]
    return [s for name, s in services.items() if name.startswith("rasa")]


def test_image_is_multi_stage_and_runs_as_a_user_not_root() -> None:
    assert len(instructions("FROM")) >= 2
    [user] = instructions("USER")
    assert user not in ("root", "0")
    # the user is made in the last stage, after its FROM
    lines = dockerfile()
    last_from = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    assert any("useradd" in line and user in line for line in lines[last_from:])


def test_image_is_built_by_the_steps_of_make_setup() -> None:
    """venv, spaCy pipeline, model and widget: scripts/setup.sh, which the Makefile runs too."""
    steps = re.compile(r"scripts/setup\.sh (\w+)")
    in_image = [step for run in instructions("RUN") for step in steps.findall(run)]
    in_makefile = steps.findall((ROOT / "Makefile").read_text())
    assert in_image == ["widget", "venv", "spacy", "model"], in_image
    assert set(in_image) == set(in_makefile)
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "scripts/build_spacy.py" in setup and "-m staff.train" in setup and "requirements.lock" in setup


def test_image_has_every_file_it_copies_and_leaves_out_secrets() -> None:
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    for secret_or_local in (".env", ".venv", ".git", "build", "models"):
        assert secret_or_local in ignored
    copied = []
    for copy in instructions("COPY"):
        if copy.startswith("--from"):
            continue
        *sources, _target = copy.split()
        copied += sources
    for source in copied:
        assert (ROOT / source).exists(), source
        assert source.rstrip("/") not in ignored, source
    # every package of the project is in the image
    packages = set(re.search(r'packages = \[(.*)\]', (ROOT / "pyproject.toml").read_text()).group(1).replace('"', "").replace(" ", "").split(","))
    assert {p + "/" for p in packages} <= set(copied)
    for needed in ("credentials.yml", "endpoints.yml", "endpoints.scaled.yml", "domain.yml", "config.yml", "data/", "web/"):
        assert needed in copied, needed


def test_image_starts_the_rasa_server_as_make_run_does(monkeypatch) -> None:
    monkeypatch.delenv("RASA_AUTH_TOKEN", raising=False)
    defaults = serve_defaults()
    [cmd] = instructions("CMD")
    command = " ".join(json.loads(cmd))
    # only the apps whose secrets are set, then the one entry point
    assert "python -m channels.settings \"$RASA_CREDENTIALS\" build/credentials.active.yml &&" in command
    assert "exec python -m rasa_addons.server run" in command
    for variable in ("RASA_MODEL", "RASA_ENDPOINTS", "RASA_PORT", "CORS_ORIGINS", "RASA_CREDENTIALS", "ACTION_PORT"):
        monkeypatch.setenv(variable, f"<{variable}>")
    rasa = serve().rasa_command()
    options = [arg for arg in rasa if arg.startswith("--")]
    for option in options:
        assert f" {option} " in f" {command} ", option
    assert "--interface 0.0.0.0" in command  # reachable from outside its container
    env_line = " ".join(instructions("ENV"))
    for variable in ("RASA_PORT", "ACTION_PORT", "ACTIONS_MODULE", "RASA_MODEL", "RASA_ENDPOINTS", "RASA_CREDENTIALS", "TRACKER_DB",
                     "ACTION_TIMEOUT", "GRACEFUL_TIMEOUT"):
        assert f"{variable}={defaults[variable]}" in env_line, variable
    assert set(instructions("EXPOSE")[0].split()) == {defaults["RASA_PORT"], defaults["ACTION_PORT"]}


def test_image_and_compose_healthchecks_ask_readiness() -> None:
    [check] = instructions("HEALTHCHECK")
    assert "CMD" in check and "/health/ready" in check and "RASA_PORT" in check
    assert "/health/ready" in health_routes()
    for rasa in rasa_services():
        test = " ".join(rasa["healthcheck"]["test"])
        assert f"127.0.0.1:{serve_defaults()['RASA_PORT']}/health/ready" in test
        # Docker kills a container 10 s after SIGTERM unless told otherwise: the requests held finish first
        assert int(rasa["stop_grace_period"].rstrip("s")) > float(rasa["environment"]["GRACEFUL_TIMEOUT"])
    assert compose()["services"]["retention"]["healthcheck"] == {"disable": True}


def test_compose_runs_two_rasa_servers_on_postgresql_and_redis() -> None:
    services = compose()["services"]
    rasas = rasa_services()
    assert len(rasas) >= 2
    needed = set(VARIABLE.findall((ROOT / "endpoints.scaled.yml").read_text()))
    defaults = serve_defaults()
    for rasa in rasas:
        env = rasa["environment"]
        assert rasa["image"] == "umb-assistant:latest" and "command" not in rasa  # the image's start command
        assert needed <= set(env), needed - set(env)
        assert env["RASA_ENDPOINTS"] == "endpoints.scaled.yml"
        assert env["RASA_PORT"] == defaults["RASA_PORT"]
        assert env["ACTION_SERVER_URL"] == f"http://actions:{defaults['ACTION_PORT']}/webhook"
        assert env["PG_HOST"] in services and env["REDIS_HOST"] in services
        assert env["PG_PORT"] == defaults["PG_PORT"] and env["REDIS_PORT"] == defaults["REDIS_PORT"]
        assert env["PG_USER"] == services[env["PG_HOST"]]["environment"]["POSTGRES_USER"]
        assert env["PG_DB"] == services[env["PG_HOST"]]["environment"]["POSTGRES_DB"] == defaults["PG_DB"]
        assert set(rasa["depends_on"]) >= {"postgres", "redis", "actions"}


def test_compose_action_server_as_under_make_run(monkeypatch) -> None:
    monkeypatch.setenv("ACTION_PORT", serve_defaults()["ACTION_PORT"])
    for variable in ("RASA_MODEL", "RASA_ENDPOINTS", "RASA_CREDENTIALS", "CORS_ORIGINS", "RASA_PORT"):
        monkeypatch.setenv(variable, "x")
    actions = serve().action_server_command()
    service = compose()["services"]["actions"]
    assert service["command"] == ["python", *actions[1:]]
    assert service["environment"]["ACTION_HOST"] == "0.0.0.0"


def test_compose_one_port_for_both_rasa_servers() -> None:
    services = compose()["services"]
    proxy = services["proxy"]
    [published] = proxy["ports"]
    assert published.endswith(":8080")
    [mount] = [v for v in proxy["volumes"] if "nginx" in v]
    conf = (ROOT / mount.split(":")[0]).read_text()
    assert "listen 8080;" in conf
    rasa_names = [name for name in services if name.startswith("rasa")]
    upstream = re.findall(r"server (\S+):(\d+)", conf)
    assert sorted(upstream) == sorted((name, serve_defaults()["RASA_PORT"]) for name in rasa_names)
    assert "ip_hash" in conf and "Upgrade" in conf  # socket.io sessions stay on one server


def test_compose_secrets_come_from_env_only_and_retention_runs_daily() -> None:
    secret_names = {"ACTION_SERVER_TOKEN", "PG_PASSWORD", "POSTGRES_PASSWORD", "RASA_AUTH_TOKEN"}
    for name, service in compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if key in secret_names:
                assert str(value).startswith("${"), (name, key)
    retention = compose()["services"]["retention"]
    assert retention["command"] == ["python", "-m", "staff.retention", "--daily"]
    assert retention["environment"]["RASA_ENDPOINTS"] == "endpoints.scaled.yml"


def test_start_command_credentials_without_and_with_secrets(tmp_path, monkeypatch) -> None:
    """The image writes the credentials of only the apps whose secrets are set, so Rasa starts
    with none of them set, and with them."""
    from channels.settings import FORMATS, main

    for variable in FORMATS:
        monkeypatch.delenv(variable, raising=False)
    out = tmp_path / "credentials.active.yml"
    assert main([str(ROOT / "credentials.yml"), str(out)]) == 0
    assert set(yaml.safe_load(out.read_text())) == {
        "channels.rest.SafeRestInput", "channels.webchat.SocketIOChannel", "channels.webchat.WebChatPage"}
    monkeypatch.setenv("TELEGRAM_TOKEN", "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw")
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "umb_bot")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", "https://example.org/webhooks/telegram/webhook")
    main([str(ROOT / "credentials.yml"), str(out)])
    assert "channels.connectors.TelegramInput" in yaml.safe_load(out.read_text())
    assert "AAHdq" not in out.read_text()  # secrets stay ${VARIABLE}s


def test_deployment_is_documented() -> None:
    for doc in ("README.md", "docs/DEPLOY.md"):
        text = (ROOT / doc).read_text()
        assert "docker build -t umb-assistant:latest ." in text, doc
        assert "docker compose up -d" in text, doc

"""Custom actions run inside the Rasa server's process, with no action server between them.

With `actions_module: <package>` under `action_endpoint` in the endpoints file (the setting Rasa Pro
3.10 introduced for this; Rasa Open Source 3.6 knows only `url`), the Rasa server runs the package's
actions through Rasa SDK's own ActionExecutor, the code the action server runs for a webhook call.
endpoints.yml sets it from ACTIONS_MODULE (`make run`'s default: `actions`); empty, Rasa calls the
action server at `url`, as the scaled setup (endpoints.scaled.yml) always does.

Rasa's RemoteAction is unchanged: it builds the same call, validates the same response and handles
the same errors; only the HTTP hop goes (a quarter of one client's time per message:
docs/PERFORMANCE.md). The action server's answers to a failure come back as the same statuses: an
action that rejects its execution, 400; an unknown action, 404; an action that raises, 500, logged
here with its traceback. An action still running after ACTION_TIMEOUT is given up, as a slow action
server is. Rasa then answers as it does when the action server fails (channels/guard.py).

The actions get the tracker's events as Rasa's own dicts, not a JSON copy: an action must not change
what it is given (this project's actions only read it; Rasa SDK's Tracker copies the slots).
"""
import asyncio
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Text

import yaml

logger = logging.getLogger(__name__)

SETTING = "actions_module"
# this project's package of custom actions: `make run`'s ACTIONS_MODULE and the staff tools' agent
PACKAGE = "actions"
_VARIABLE = re.compile(r"\$\{([^}]+)\}")


def configured(endpoints: Path, env: Mapping[str, str] = os.environ) -> Optional[str]:
    """The package an endpoints file runs in-process (its `${...}` expanded from `env`), if any: what
    the run command needs to know before Rasa reads the file, to start an action server or not."""
    section = (yaml.safe_load(endpoints.read_text()) or {}).get("action_endpoint") or {}
    value = _VARIABLE.sub(lambda m: env.get(m.group(1), ""), str(section.get(SETTING) or "")).strip()
    return value or None


def module(endpoint: Any) -> Optional[Text]:
    """The package whose actions this action endpoint (an EndpointConfig) runs in-process, if any."""
    value = str(endpoint.kwargs.get(SETTING) or "").strip() if endpoint is not None else ""
    return value or None


def executor(endpoint: Any) -> Any:
    """The endpoint's ActionExecutor, the package's actions registered once; RuntimeError if the
    package does not import or has no actions (the readiness check says so: rasa_addons.health)."""
    found = endpoint.__dict__.get("_executor")
    if found is None:
        from rasa_sdk.executor import ActionExecutor

        found = ActionExecutor()
        try:
            found.register_package(module(endpoint))
        except SystemExit as e:  # Rasa SDK exits when the package does not import: not this server
            raise RuntimeError(f"{SETTING} {module(endpoint)!r} does not import: see the traceback above") from e
        if not found.actions:
            raise RuntimeError(f"{SETTING} {module(endpoint)!r}: no custom actions in that package")
        logger.info("Custom actions run in this process: %d from %r", len(found.actions), module(endpoint))
        endpoint.__dict__["_executor"] = found
    return found


def _error(status: int, action: Text, message: Text) -> Exception:
    from rasa.utils.endpoints import ClientResponseError

    return ClientResponseError(status, message, json.dumps({"action_name": action, "error": message}))


async def run(endpoint: Any, call: Dict[Text, Any], timeout: Optional[float]) -> Optional[Dict[Text, Any]]:
    """What the action server's webhook answers to `call`, a failure as the same HTTP status."""
    from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException

    action = call.get("next_action", "")
    try:
        return await asyncio.wait_for(executor(endpoint).run(call), timeout)
    except ActionExecutionRejection as e:
        raise _error(400, e.action_name, e.message) from e
    except ActionNotFoundException as e:
        logger.error("%s", e)
        raise _error(404, e.action_name, e.message) from e
    except asyncio.TimeoutError:
        logger.error("Custom action %r still running after %s s: given up", action, timeout)
        raise
    except Exception as e:  # noqa: BLE001 - the action server answers any failure with a 500
        logger.exception("Custom action %r failed", action)
        raise _error(500, action, f"{type(e).__name__}: {e}") from e


def apply() -> None:
    """EndpointConfig.request runs the call in-process for an endpoint with `actions_module`."""
    from rasa.utils.endpoints import EndpointConfig

    rasa_request = EndpointConfig.request
    if getattr(rasa_request, "in_process", False):
        return

    async def request(self: EndpointConfig, method: Text = "post", subpath: Optional[Text] = None,
                      content_type: Optional[Text] = "application/json", compress: bool = False, **kwargs: Any) -> Optional[Any]:
        if module(self) is None:
            return await rasa_request(self, method, subpath, content_type, compress, **kwargs)
        return await run(self, kwargs["json"], kwargs.get("timeout"))

    request.in_process = True  # type: ignore[attr-defined]
    EndpointConfig.request = request

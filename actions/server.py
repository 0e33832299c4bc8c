"""The action server, reachable only by the Rasa server.

Rasa SDK's own server (`rasa run actions`) listens on every interface and runs any action for
anyone who can reach it. This one is the same app (rasa_sdk.endpoint.create_app) but binds to
ACTION_HOST (default 127.0.0.1, loopback only) and, for every path except /health, requires the
header `Authorization: Bearer <ACTION_SERVER_TOKEN>`, which the Rasa server sends (endpoints.yml).
The token matters where the two servers run on different hosts (deploy/). LOG_FORMAT=json makes
it log one JSON object per line, as the Rasa server does (rasa_addons/logs.py).

Usage: python -m actions.server --port 5055
"""
import argparse
import hmac
import logging
import os
from typing import Optional

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from rasa_addons import logs

logger = logging.getLogger("actions.server")


def build(token: str) -> Sanic:
    """The action server app with the token check in front of it."""
    # imported here, not at the top: main() sets up logging first, so its import warnings are logged
    from rasa_sdk.endpoint import create_app

    app = create_app("actions", cors_origins="")
    expected = f"Bearer {token}".encode()

    @app.on_request
    async def check_token(request: Request) -> Optional[HTTPResponse]:
        if request.path == "/health":
            return None
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            logger.warning("Refused %s %s from %s: missing or wrong token", request.method, request.path, request.ip)
            return response.json({"error": "Only the Rasa server may call the action server."}, status=401)
        return None

    return app


def main() -> None:
    log_format = logs.configure()
    if log_format is None:
        raise SystemExit(1)
    json_logs = log_format == "json"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTION_PORT", "5055")))
    args = parser.parse_args()
    token = os.environ.get("ACTION_SERVER_TOKEN")
    if not token:
        raise SystemExit("ACTION_SERVER_TOKEN is not set: the action server will not run without it (see .env.example)")
    host = os.environ.get("ACTION_HOST", "127.0.0.1")
    logger.info("Action server on http://%s:%s (token required)", host, args.port)
    app = build(token)
    if json_logs:
        logs.use_json()  # also the Sanic loggers, which have no handler of their own here
    app.run(host, args.port, workers=1, access_log=False, motd=False)


if __name__ == "__main__":
    main()

# syntax=docker/dockerfile:1
# The assistant's image: both servers, the spaCy pipeline and the trained model built in, built by
# the same steps as `make setup` (scripts/setup.sh). README "Deployment" and docs/DEPLOY.md explain
# how to build and run it:   docker build -t umb-assistant:latest .
# One image, two servers: the default command is the Rasa server, which with endpoints.yml runs the
# custom actions itself (ACTIONS_MODULE); the action server, for the scaled setup (endpoints.scaled.yml), is
#   python -m actions.server --port 5055   (with ACTION_HOST=0.0.0.0), as compose.yaml runs it.

# --- the web chat's socket.io client, from npm -------------------------------------------------------
FROM node:20-bookworm-slim AS widget
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/setup.sh scripts/
RUN scripts/setup.sh widget

# --- the venv, the spaCy pipeline and the model ----------------------------------------------------
FROM python:3.10-slim-bookworm AS build
WORKDIR /app
ENV VENV=/app/.venv EXTRAS=. EDITABLE= PYTHON=python3.10 \
    TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1 PYTHONDONTWRITEBYTECODE=1
COPY pyproject.toml requirements.lock README.md ./
COPY scripts/ scripts/
COPY actions/ actions/
COPY channels/ channels/
COPY rasa_addons/ rasa_addons/
COPY staff/ staff/
COPY console/ console/
RUN scripts/setup.sh venv
RUN scripts/setup.sh spacy
COPY config.yml domain.yml ./
COPY data/ data/
RUN scripts/setup.sh model && rm -rf .rasa

# --- what runs -------------------------------------------------------------------------------------
FROM python:3.10-slim-bookworm
RUN useradd --create-home --uid 10001 umb
WORKDIR /app
ENV PATH=/app/.venv/bin:$PATH \
    TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    RASA_PORT=5005 ACTION_PORT=5055 ACTIONS_MODULE=actions ACTION_TIMEOUT=10 GRACEFUL_TIMEOUT=15 \
    RASA_MODEL=models/current.tar.gz RASA_ENDPOINTS=endpoints.yml RASA_CREDENTIALS=credentials.yml \
    TRACKER_DB=build/tracker.db UMB_FACTS_FILE=data/facts.yml \
    CORS_ORIGINS="http://localhost:5005 http://127.0.0.1:5005"
# the venv (same path as where it was built), the spaCy pipeline and the model
COPY --from=build /app/.venv .venv
COPY --from=build /app/build/spacy_en_umb build/spacy_en_umb
COPY --from=build /app/models models
COPY pyproject.toml requirements.lock config.yml domain.yml endpoints.yml endpoints.scaled.yml credentials.yml ./
COPY actions/ actions/
COPY channels/ channels/
COPY rasa_addons/ rasa_addons/
COPY staff/ staff/
COPY console/ console/
COPY scripts/ scripts/
COPY data/ data/
COPY web/ web/
COPY --from=widget /app/web/vendor web/vendor
# build/: the credentials of the apps whose secrets are set, and the SQLite store of a single container
RUN chown umb:umb build
USER umb
EXPOSE 5005 5055
# healthy = ready: the model is loaded, the action server and the stores answer (rasa_addons/health.py,
# each check bounded to 2 s); a 503 from /health/ready fails urlopen
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/ready' % os.environ['RASA_PORT'], timeout=4)"
# the Rasa server, as `make run` starts it (scripts/serve.py): the credentials of only the apps whose
# secrets are set (channels/settings.py), then rasa_addons.server (pinned Rasa, speed fixes, action timeout)
CMD ["sh", "-c", "python -m channels.settings \"$RASA_CREDENTIALS\" build/credentials.active.yml && exec python -m rasa_addons.server run --model \"$RASA_MODEL\" --endpoints \"$RASA_ENDPOINTS\" --credentials build/credentials.active.yml --interface 0.0.0.0 --port \"$RASA_PORT\" --cors $CORS_ORIGINS"]

# `make run` and `make test` set up everything they need: the venv, the spaCy pipeline, the model.
SHELL := /bin/bash
VENV := .venv
PY310 := $(shell for p in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10; do $$p -c '' 2>/dev/null && { echo $$p; break; }; done)
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
SPACY := build/spacy_en_umb/meta.json
MODEL := models/current.tar.gz
# Everything the model is trained from (the facts are read at run time, not trained on).
TRAINING_DATA := config.yml domain.yml $(shell find data -name '*.yml' ! -name facts.yml)

export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export PYTHONDONTWRITEBYTECODE := 1
# `make test` builds and checks what does not depend on each other side by side (their output may
# interleave); `make run` and the rest, one step after the other
ifneq ($(filter test,$(MAKECMDGOALS)),)
MAKEFLAGS += --jobs=3
endif

.PHONY: setup run test train

# The build steps themselves are in scripts/setup.sh, which the Dockerfile runs too.
$(INSTALLED): pyproject.toml requirements.lock
	VENV=$(VENV) scripts/setup.sh venv
	touch $@

$(SPACY): $(INSTALLED) scripts/build_spacy.py
	VENV=$(VENV) scripts/setup.sh spacy

$(MODEL): $(INSTALLED) $(SPACY) $(TRAINING_DATA)
	VENV=$(VENV) scripts/setup.sh model

setup: $(MODEL)

train: setup
	@echo "Model: $(MODEL), trained $$(date -r $(MODEL) '+%F %T'); retrained only when the training data changes."

run: setup
	$(BIN)/python scripts/serve.py

# `make test`: the data checked (make check) as soon as the venv is there, the stories once the model is,
# then the tests; what does not depend on each other (the venv, the widget's npm packages, chromium, the
# audit's venv) is built side by side (MAKEFLAGS above).
test: setup check stories
	$(BIN)/python -m pytest -n 3 --dist loadgroup  # three workers, a module whole on one (tests/conftest.py)

.PHONY: stories
stories: setup
	$(BIN)/python -m staff.test_bot --stories-only  # conversation tests: Rasa's e2e story evaluation, strict but for the language entity

# Staff tools (docs/STAFF.md): check the data, test the bot, list what users asked that went unanswered.
.PHONY: check test-bot unanswered
DAYS ?= 7

check: $(INSTALLED)
	$(BIN)/python -m staff.check

test-bot: setup
	$(BIN)/python -m staff.test_bot

unanswered: $(INSTALLED)
	$(BIN)/python -m staff.unanswered --days $(DAYS)

# Retention (docs/DEPLOY.md, "Retention"): delete conversations older than RETENTION_DAYS (.env,
# default 180) from the configured tracker store; `make forget SENDER=<sender id>`: one person's.
.PHONY: retention forget
retention: $(INSTALLED)
	$(BIN)/python -m staff.retention

forget: $(INSTALLED)
	@test -n "$(SENDER)" || { echo "usage: make forget SENDER=<sender id>"; exit 2; }
	$(BIN)/python -m staff.retention --sender "$(SENDER)"

# Web chat widget (README, "Web chat widget"): socket.io-client from npm, copied beside the widget,
# and Debian's chromium for its browser tests (Playwright downloads no browser).
# axe-core (a dev dependency) is what the widget's accessibility tests run in the browser.
NODE_MODULES := node_modules/.package-lock.json
WIDGET_IO := web/vendor/socket.io.min.js
CHROMIUM := /usr/bin/chromium

$(NODE_MODULES): package.json package-lock.json
	scripts/setup.sh widget
	touch $@

$(WIDGET_IO): $(NODE_MODULES)
	test -f $@ && touch $@ || scripts/setup.sh widget  # copied by the step above

$(CHROMIUM):
	apt-get update && apt-get install -y chromium

setup: $(WIDGET_IO)
test: $(CHROMIUM) $(NODE_MODULES)

# Dependency audit (docs/SECURITY.md): pip-audit in a venv of its own (it needs a newer `packaging`
# than Rasa 3.6 allows), over the pinned versions in requirements.lock. Accepted findings are
# listed, with the reason, in docs/SECURITY.md and ignored here by their ids.
AUDIT_VENV := build/audit-venv
AUDIT_IGNORE :=
.PHONY: audit soak

$(AUDIT_VENV)/bin/pip-audit:
	$(PY310) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/pip install -q pip-audit==2.10.1

audit: $(AUDIT_VENV)/bin/pip-audit
	$(AUDIT_VENV)/bin/pip-audit -r requirements.lock --no-deps --disable-pip --progress-spinner off $(AUDIT_IGNORE:%=--ignore-vuln %)

test: audit

# Side by side with stock Rasa (README, "Speed"); about 18 minutes (docs/PERFORMANCE.md), not part of CI
.PHONY: bench
bench: setup
	$(BIN)/python bench/run.py

# 10 minutes of mixed traffic against one instance; errors, latency and memory (not part of CI)
soak: setup
	$(BIN)/python scripts/soak.py --minutes 10

# Staff console accounts (docs/STAFF.md): the password is asked at the prompt and stored hashed (argon2).
.PHONY: staff-user
staff-user: $(INSTALLED)
	@test -n "$(NAME)" || { echo "usage: make staff-user NAME=<sign-in name>"; exit 2; }
	$(BIN)/python -m console.users "$(NAME)"

#!/usr/bin/env bash
# The build steps of the assistant, one per argument, shared by `make setup` (Makefile) and the image
# (Dockerfile), so both are built by the same commands:
#   scripts/setup.sh venv     the venv (VENV, default .venv) with the pinned packages (requirements.lock)
#   scripts/setup.sh spacy    the spaCy pipeline, built offline (build/spacy_en_umb)
#   scripts/setup.sh model    the trained model (models/current.tar.gz)
#   scripts/setup.sh widget   the web chat's socket.io client from npm (web/vendor/socket.io.min.js)
# Settings: PYTHON (a Python 3.10; found when unset), VENV (.venv), EXTRAS (".[test]" for
# development, "." for the image), EDITABLE ("-e" for development, "" for the image).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
BIN=$VENV/bin
EXTRAS=${EXTRAS:-.[test]}
EDITABLE=${EDITABLE--e}

find_python() {
    for p in python3.10 "$HOME"/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do
        if "$p" -c '' 2>/dev/null; then echo "$p"; return; fi
    done
    echo "Python 3.10 is needed (Rasa 3.6 does not run on 3.11)" >&2
    exit 1
}

for step in "$@"; do
    case $step in
        venv)
            test -x "$BIN/python" || "${PYTHON:-$(find_python)}" -m venv "$VENV"
            "$BIN/pip" install -q -c requirements.lock $EDITABLE "$EXTRAS"
            ;;
        spacy)
            "$BIN/python" scripts/build_spacy.py
            ;;
        model)
            "$BIN/python" -m staff.train  # rasa train, then says where the model is and how long it took
            ;;
        widget)
            npm ci --no-audit --no-fund
            mkdir -p web/vendor && cp node_modules/socket.io-client/dist/socket.io.min.js web/vendor/
            ;;
        *)
            echo "unknown step: $step (venv, spacy, model or widget)" >&2
            exit 2
            ;;
    esac
done

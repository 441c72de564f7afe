#!/usr/bin/env bash
# Set up (once) and run: ./dev.sh demo | test | lint | bench
# Needs only Python >= 3.10: creates .venv beside this file and installs the project into it when the
# venv is missing or pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=${BENCH_VENV:-.venv}

setup() {
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || { echo "error: Python >= 3.10 is needed ($PY is $("$PY" -V 2>&1))" >&2; exit 2; }
  local want; want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.installed" 2>/dev/null)" = "$want" ]; then return; fi
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV" 2>/dev/null || {
      # Debian/Ubuntu ship venv without ensurepip unless python3-venv is installed.
      rm -rf "$VENV"; "$PY" -m venv --without-pip "$VENV"
      curl -fsSL https://bootstrap.pypa.io/get-pip.py | "$VENV/bin/python" - -q
    }
  fi
  echo "installing bench and its dependencies into $VENV (first time: a few minutes)" >&2
  # pip's and setuptools' chatter goes to a log, shown only when the install fails.
  { "$VENV/bin/python" -m pip install -q --upgrade pip && "$VENV/bin/python" -m pip install -q -e '.[dev]'; } \
    >"$VENV/install.log" 2>&1 || { tail -n 40 "$VENV/install.log" >&2; echo "error: install failed" >&2; exit 1; }
  echo "$want" > "$VENV/.installed"
}

cmd=${1:-}
shift || true
case "$cmd" in
  demo)  setup; exec "$VENV/bin/bench" run --grid quick --jobs 2 "$@" ;;
  test)  setup; exec "$VENV/bin/python" -m pytest -q "$@" ;;
  lint)  setup; exec "$VENV/bin/ruff" check bench tests benchmarks ;;
  bench) setup; exec "$VENV/bin/python" benchmarks/runner_overhead.py "$@" ;;
  setup) setup ;;
  *) echo "usage: ./dev.sh demo|test|lint|bench|setup [args...]" >&2; exit 2 ;;
esac

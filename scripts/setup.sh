#!/usr/bin/env bash
# Set up everything evoapproxnas needs on a Debian or Ubuntu machine:
#   - Debian packages: a C++ compiler for the emulation op, yosys for circuit
#     characterization, Fashion-MNIST, python3-venv, and Chromium (the HTML report's test);
#   - the Python package with its test, circuit and Dask extras, installed (editable) into
#     the active virtual environment, or into .venv/ beside this script's repository when
#     none is active (Debian's own python3 refuses a system-wide pip install, PEP 668).
# Afterwards: .venv/bin/evoapproxnas ... and .venv/bin/python -m pytest (or activate it).
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES="g++ yosys dataset-fashion-mnist python3-venv chromium"
missing=""
for pkg in $DEBIAN_PACKAGES; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing Debian packages:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

if [ -n "${VIRTUAL_ENV:-}" ]; then
    PY="$VIRTUAL_ENV/bin/python"
    BIN="$VIRTUAL_ENV/bin"
    echo "setup: installing into the active virtual environment $VIRTUAL_ENV"
else
    if [ ! -x .venv/bin/python ]; then
        echo "setup: creating the virtual environment .venv with $(command -v python3)"
        python3 -m venv .venv
    fi
    PY=".venv/bin/python"
    BIN=".venv/bin"
fi

echo "setup: installing the evoapproxnas Python package (editable, with extras)"
"$PY" -m pip install -q --disable-pip-version-check --upgrade pip
"$PY" -m pip install -q --disable-pip-version-check -e ".[dev]"
echo "setup: done; the commands are in $BIN (evoapproxnas, python -m pytest)"

#!/usr/bin/env bash
# Set up everything evoapproxnas needs on a fresh Debian machine: the Debian packages
# (a C++ compiler for the custom op, yosys for circuit characterization, Fashion-MNIST)
# and the Python package with its test, circuit and Dask extras.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES="g++ yosys dataset-fashion-mnist"
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

echo "setup: installing the evoapproxnas Python package (editable, with extras)"
python3 -m pip install -q --disable-pip-version-check -e ".[dev]"

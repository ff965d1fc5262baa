#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian packages clmsd needs, when any is missing; quiet when all are present.
# Usage: tools/setup.sh [extra packages...]
set -eu

packages="pocl-opencl-icd ocl-icd-opencl-dev opencl-c-headers libclblast-dev librandom123-dev
libcriterion-dev meson ninja-build pkg-config python3 gcc zlib1g-dev gnuplot-nox oclgrind valgrind
clang libclang-rt-14-dev clang-format clang-15 libclc-15 mesa-opencl-icd cmake openmpi-bin libopenmpi-dev
libcjson-dev $*"

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "clmsd setup: installing$missing"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null

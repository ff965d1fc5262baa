#!/bin/sh
# SPDX-License-Identifier: MIT
# Sets up (Debian packages) and builds clmsd into ./build.
set -eu
cd "$(dirname "$0")/.."
tools/setup.sh
[ -f build/build.ninja ] || meson setup build --werror >/dev/null
meson compile -C build >/dev/null

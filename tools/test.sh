#!/bin/sh
# Set up, build, and run the whole test suite (on $CLMSD_DEVICE, or the default device).
set -eu
cd "$(dirname "$0")/.."
tools/build.sh
meson test -C build --print-errorlogs "$@"

#!/bin/sh
# SPDX-License-Identifier: MIT
# The main job: set up, build, then train a multi-sample dropout head on the digits data for
# K = 1, 2, 4, 8, 16 on the default device (pocl where there is no GPU); the plot lands in results/.
set -eu
cd "$(dirname "$0")/.."
tools/build.sh
./build/clmsd train --out results "$@"

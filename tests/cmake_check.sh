#!/bin/sh
# SPDX-License-Identifier: MIT
# CMake users: installs clmsd into a temporary folder (meson install --destdir), then configures,
# builds and runs tests/cmake (find_package(clmsd), clmsd::clmsd) against it. Skipped (77) when
# cmake is absent. Usage: cmake_check.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
command -v cmake > /dev/null || { echo "SKIP: cmake is not installed"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
meson install -C "$build" --no-rebuild --quiet --destdir "$dir/root" > "$dir/install.log" 2>&1 ||
    { cat "$dir/install.log"; echo "FAIL: meson install"; exit 1; }
prefix=$(find "$dir/root" -name clmsdConfig.cmake -path '*/cmake/clmsd/*' | sed 's|/lib.*/cmake/clmsd/clmsdConfig.cmake$||')
[ -n "$prefix" ] || { echo "FAIL: no clmsdConfig.cmake was installed"; exit 1; }
cmake -S "$src/tests/cmake" -B "$dir/app" -DCMAKE_PREFIX_PATH="$prefix" > "$dir/cmake.log" 2>&1 ||
    { cat "$dir/cmake.log"; echo "FAIL: cmake could not configure find_package(clmsd)"; exit 1; }
cmake --build "$dir/app" > "$dir/build.log" 2>&1 || { cat "$dir/build.log"; echo "FAIL: cmake --build"; exit 1; }
"$dir/app/app" || { echo "FAIL: the CMake-built program"; exit 1; }
echo "PASS: find_package(clmsd) and clmsd::clmsd from $prefix"

#!/bin/sh
# SPDX-License-Identifier: MIT
# An installed clmsd: installs into a temporary folder (meson install --destdir); the installed
# tool finds its data there (datadir, not the source tree); then CMake users: configures, builds
# and runs tests/cmake (find_package(clmsd), clmsd::clmsd) against it. The CMake part is skipped
# with a message when cmake is absent. Usage: cmake_check.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
meson install -C "$build" --no-rebuild --quiet --destdir "$dir/root" > "$dir/install.log" 2>&1 ||
    { cat "$dir/install.log"; echo "FAIL: meson install"; exit 1; }
prefix=$(find "$dir/root" -name clmsdConfig.cmake -path '*/cmake/clmsd/*' | sed 's|/lib.*/cmake/clmsd/clmsdConfig.cmake$||')
[ -n "$prefix" ] || { echo "FAIL: no clmsdConfig.cmake was installed"; exit 1; }
libdir=$(dirname "$(find "$prefix" -name 'libclmsd.so.*.*' | head -n 1)")
LD_LIBRARY_PATH=$libdir "$prefix/bin/clmsd" train --samples 1 --epochs 1 --hidden 16 > "$dir/train.log" 2>&1 ||
    { cat "$dir/train.log"; echo "FAIL: the installed clmsd train"; exit 1; }
grep -q "^digits ($prefix/bin/../share/clmsd/digits.csv.gz)" "$dir/train.log" ||
    { head -n 3 "$dir/train.log"; echo "FAIL: the installed tool did not take the installed data"; exit 1; }
echo "the installed clmsd train read $prefix/share/clmsd/digits.csv.gz"
# clmsd_mpi through pkg-config, where it was built: a program that links it and calls it
if [ -n "$(find "$prefix" -name clmsd-mpi.pc)" ]; then
    mkdir "$dir/pc" # clmsd's .pc files moved to where they were installed; MPI's stay the system's
    for f in $(find "$prefix" -name 'clmsd*.pc'); do
        sed "s|^prefix=.*|prefix=$prefix|" "$f" > "$dir/pc/$(basename "$f")"
    done
    printf '%s\n' '#include <clmsd_mpi.h>' '#include <stdio.h>' \
        'int main(void) { size_t lo, rows; clmsd_status st = clmsd_mpi_split(0, 100, 2, 1, &lo, &rows);' \
        '  printf("%zu %zu\n", lo, rows); return st != CLMSD_SUCCESS || lo != 64 || rows != 36; }' > "$dir/mpi_app.c"
    # shellcheck disable=SC2046
    cc "$dir/mpi_app.c" -o "$dir/mpi_app" $(PKG_CONFIG_PATH=$dir/pc pkg-config --cflags --libs clmsd-mpi) \
        > "$dir/mpi_build.log" 2>&1 || { cat "$dir/mpi_build.log"; echo "FAIL: building against clmsd-mpi.pc"; exit 1; }
    LD_LIBRARY_PATH=$libdir "$dir/mpi_app" > /dev/null || { echo "FAIL: the program linked with clmsd-mpi"; exit 1; }
    echo "a program built with pkg-config clmsd-mpi ran"
fi
command -v cmake > /dev/null || { echo "SKIP: cmake is not installed (the CMake package is untested)"; exit 77; }
cmake -S "$src/tests/cmake" -B "$dir/app" -DCMAKE_PREFIX_PATH="$prefix" > "$dir/cmake.log" 2>&1 ||
    { cat "$dir/cmake.log"; echo "FAIL: cmake could not configure find_package(clmsd)"; exit 1; }
cmake --build "$dir/app" > "$dir/build.log" 2>&1 || { cat "$dir/build.log"; echo "FAIL: cmake --build"; exit 1; }
"$dir/app/app" || { echo "FAIL: the CMake-built program"; exit 1; }
echo "PASS: the installed tool and data; find_package(clmsd) and clmsd::clmsd from $prefix"

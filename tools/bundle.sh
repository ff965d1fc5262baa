#!/bin/sh
# SPDX-License-Identifier: MIT
# The bundle for a bare GPU machine (docs/benchmarks.md, "The first GPU run"): the clmsd tool
# (selftest, train, predict), clmsd-bench, and every shared library they load but glibc's and a
# vendor's OpenCL driver: libclmsd, CLBlast, the OpenCL ICD loader, cJSON, zlib, libstdc++ and
# libgcc_s, found through an RPATH of $ORIGIN/../lib (DT_RPATH, which also serves the libraries'
# own dependencies); the golden results of `clmsd selftest` on this machine's pocl, the device
# script and the PyTorch peer. Built release, without MPI, in build-bundle/.
# Prints the glibc the bundle needs at least (also in OUT/GLIBC) and its size (at most 64 MiB).
# Usage: tools/bundle.sh [OUT]   (default bundle/)
set -eu
cd "$(dirname "$0")/.."
out=${1:-bundle}
build=${CLMSD_BUNDLE_BUILD:-build-bundle}
tools/setup.sh
if [ ! -f "$build/build.ninja" ]; then
    # shellcheck disable=SC2016
    LDFLAGS='-Wl,--disable-new-dtags,-rpath,$ORIGIN/../lib' meson setup "$build" --buildtype=release --prefix=/ \
        --libdir=lib -Dmpi=disabled -Dtests=disabled -Dexamples=false > /dev/null
fi
ninja -C "$build" > /dev/null
rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
DESTDIR="$out" meson install -C "$build" --quiet > /dev/null
rm -rf "$out/include" "$out/lib/cmake" "$out/lib/pkgconfig"
# the libraries the binaries load, but glibc's (the loader, libc, libm, ...) and the bundle's own
glibc='^(linux-vdso|ld-linux|libc\.so|libm\.so|libpthread|libdl|librt|libresolv|libutil)'
for elf in "$out/bin/clmsd" "$out/bin/clmsd-bench"; do
    ldd "$elf" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }'
done | sort -u | while read -r name path; do
    echo "$name" | grep -Eq "$glibc" && continue
    [ -e "$out/lib/$name" ] || cp -L "$path" "$out/lib/$name"
done
# the oldest glibc the bundle runs on: the newest GLIBC_ symbol version any of its files asks for
find "$out/bin" "$out/lib" -type f -name '*' | while read -r f; do
    objdump -T "$f" 2>/dev/null | grep -o 'GLIBC_[0-9][0-9.]*' || true
done | sort -u -t. -k1,1 -k2,2n -k3,3n | tail -n 1 > "$out/GLIBC"
# what the GPU machine compares with: this machine's selftest on pocl (the results line: the
# hashes of the raw masks and of the fused and optimizer results)
mkdir -p "$out/golden"
"$out/bin/clmsd" selftest --device pthread --row | grep '^@clmsd-selftest-row' > "$out/golden/selftest-pocl.row"
cp bench/device.sh "$out/"
mkdir -p "$out/peer"
cp bench/torch_peer.py bench/peer_common.py "$out/peer/"
size=$(du -sk "$out" | cut -f1)
echo "bundle: $out, $((size / 1024)) MiB, needs $(cat "$out/GLIBC") or newer"
[ "$size" -le $((64 * 1024)) ] || { echo "tools/bundle.sh: the bundle is over 64 MiB" >&2; exit 1; }

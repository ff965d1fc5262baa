#!/bin/sh
# SPDX-License-Identifier: MIT
# tools/bundle.sh's bundle runs on a machine that has nothing of ours: with `env -i` (PATH only for
# pocl's linker, no LD_LIBRARY_PATH, no ICD but an ICD file of this test's own pointing at pocl) its clmsd lists the
# device, trains, and clmsd-bench measures; `ldd` finds every library its binaries load (their
# whole closure, through their RPATH) inside the bundle or glibc's, none missing; it states the glibc it needs,
# no newer than Debian 12's 2.36; the golden selftest line is there; it is under 64 MiB.
# Usage: bundle_check.sh SOURCE_DIR BUILD_DIR
set -eu
src=$1 build=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
CLMSD_BUNDLE_BUILD="$build/bundle-build" "$src/tools/bundle.sh" "$dir/bundle" > "$dir/bundle.log" 2>&1 ||
    { cat "$dir/bundle.log"; fail "tools/bundle.sh"; }
b=$dir/bundle
for elf in "$b"/bin/*; do # (ldd of a binary lists every library it loads, through its RPATH)
    env -i /usr/bin/ldd "$elf" > "$dir/ldd" 2>&1 || { cat "$dir/ldd"; fail "ldd $elf"; }
    ! grep -q "not found" "$dir/ldd" || { cat "$dir/ldd"; fail "$(basename "$elf"): a library not found"; }
    awk -v b="$b" '$2 == "=>" && $3 ~ /^\// && index($3, b) != 1 { print $1 }' "$dir/ldd" |
        grep -Ev '^(libc|libm|libpthread|libdl|librt)\.so' && fail "$(basename "$elf") loads a library from outside the bundle"
done
glibc=$(cat "$b/GLIBC")
case $glibc in GLIBC_2.[0-9] | GLIBC_2.[12][0-9] | GLIBC_2.3[0-6]) ;; *) fail "the bundle needs $glibc, newer than 2.36" ;; esac
grep -q '^@clmsd-selftest-row 1 1 1 1 ' "$b/golden/selftest-pocl.row" || fail "no passing golden selftest line"
[ -x "$b/device.sh" ] && [ -f "$b/peer/torch_peer.py" ] || fail "the device script or the PyTorch peer is missing"
[ "$(du -sk "$b" | cut -f1)" -le $((64 * 1024)) ] || fail "over 64 MiB"
mkdir -p "$dir/icds"
pocl=$(/sbin/ldconfig -p | awk '$1 == "libpocl.so.2" { print $NF; exit }')
echo "$pocl" > "$dir/icds/pocl.icd"
# (PATH only for pocl, which runs the system's linker on the kernels it compiles)
bare() { env -i PATH=/usr/bin:/bin OCL_ICD_VENDORS="$dir/icds" POCL_CACHE_DIR="${POCL_CACHE_DIR:-$dir/pocl}" \
    CLMSD_DATA_DIR="$b/share/clmsd" "$@"; }
bare "$b/bin/clmsd" devices > "$dir/devices" 2>&1 || { cat "$dir/devices"; fail "clmsd devices under env -i"; }
grep -q "^0:0  Portable Computing Language" "$dir/devices" || { cat "$dir/devices"; fail "pocl not listed"; }
bare "$b/bin/clmsd" train --samples 1,2 --epochs 1 --hidden 32 --batch 256 > "$dir/train" 2>&1 ||
    { cat "$dir/train"; fail "clmsd train under env -i"; }
bare "$b/bin/clmsd-bench" --device pthread --shapes binary --engines fused --ops train_step --json "$dir/b.jsonl" \
    > "$dir/bench" 2>&1 || { cat "$dir/bench"; fail "clmsd-bench under env -i"; }
grep -q '"op": *"train_step"' "$dir/b.jsonl" || { cat "$dir/b.jsonl"; fail "no train_step measured"; }
echo "PASS: the bundle ($(du -sh "$b" | cut -f1), needs $glibc) runs under env -i with only its libraries and pocl"

#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds the libFuzzer harnesses with clang (libFuzzer, AddressSanitizer, UBSan) over clmsd's own
# sources and runs each: fuzz_api (the API's argument validation) and fuzz_safetensors (the
# safetensors reader, seeded with a valid file). Usage: tests/fuzz/fuzz.sh BUILD_DIR [SECONDS]   (default 20; a longer run:
# tests/fuzz/fuzz.sh build 3600). The corpus grows in BUILD_DIR/fuzz-corpus.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$(cd "$1" && pwd)
seconds=${2:-20}
command -v clang >/dev/null || { echo "SKIP: clang not installed (apt-get install clang)"; exit 77; }
out="$build/fuzz"
mkdir -p "$out" "$build/fuzz-corpus"
clang -std=c11 -w -g -O1 -D_GNU_SOURCE -ffp-contract=off -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$src/include" -I"$build" -I"$src" \
    "$here/fuzz_api.c" "$src"/src/*.c "$build/clmsd_kernels.c" \
    -lOpenCL -lclblast -lm -lpthread -o "$out/fuzz_api"
clang -std=c11 -w -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$src/data" "$here/fuzz_safetensors.c" "$src/data/safetensors.c" -lcjson -lm -o "$out/fuzz_safetensors"
# leak detection off: pocl and the ICD loader keep global state for the life of the process
status=0
ASAN_OPTIONS=detect_leaks=0 "$out/fuzz_api" -max_total_time="$seconds" -max_len=256 -print_final_stats=1 -artifact_prefix="$out/" \
    "$build/fuzz-corpus" > "$out/log" 2>&1 || status=$?
tail -n 40 "$out/log"
# a valid file to start from: two tensors and metadata, the header padded to 8 bytes
seeds="$build/fuzz-corpus-safetensors"
mkdir -p "$seeds"
header='{"__metadata__":{"format":"pt"},"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"y":{"dtype":"I64","shape":[1],"data_offsets":[16,24]}}'
while [ $(( ${#header} % 8 )) -ne 0 ]; do header="$header "; done
{ printf "$(printf '\\%03o' $(( ${#header} )) 0 0 0 0 0 0 0)"; printf '%s' "$header"; head -c 24 /dev/zero; } > "$seeds/valid"
ASAN_OPTIONS=detect_leaks=0 "$out/fuzz_safetensors" -max_total_time="$seconds" -max_len=1024 -print_final_stats=1 \
    -artifact_prefix="$out/st-" "$seeds" > "$out/log-safetensors" 2>&1 || status=$?
tail -n 20 "$out/log-safetensors"
exit "$status"

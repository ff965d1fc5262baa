#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds the libFuzzer harnesses with clang (libFuzzer, AddressSanitizer, UBSan) over clmsd's own
# sources and runs each: fuzz_api (the API's argument validation) and fuzz_safetensors (the
# safetensors reader and the tool's checks of features and checkpoints, seeded with valid files). Usage: tests/fuzz/fuzz.sh BUILD_DIR [SECONDS]   (default 20; a longer run:
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
# the reader and the tool's checks of what it read (features, split, checkpoint head), linked
# against the build's libclmsd for the host conversions (not instrumented: the checks are)
clang -std=c11 -w -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$src/data" -iquote "$src/src/cli" -I"$src/include" -I"$build" "$here/fuzz_safetensors.c" "$src/data/safetensors.c" "$src/data/safetensors_write.c" \
    "$src/src/cli/features_file.c" "$src/src/cli/checkpoint.c" "$src/data/digits.c" -DCLMSD_DATADIR='""' -DCLMSD_SOURCE_DATA='""' \
    -L"$build" -Wl,-rpath,"$build" -lclmsd -lOpenCL -lcjson -lm -o "$out/fuzz_safetensors"
# leak detection off: pocl and the ICD loader keep global state for the life of the process
status=0
ASAN_OPTIONS=detect_leaks=0 "$out/fuzz_api" -max_total_time="$seconds" -max_len=256 -print_final_stats=1 -artifact_prefix="$out/" \
    "$build/fuzz-corpus" > "$out/log" 2>&1 || status=$?
tail -n 40 "$out/log"
# valid files to start from, each header padded to 8 bytes: two tensors and metadata; a features
# file (x [4, 2] F32, y [4] I64, the split v [1]); a checkpoint's head (the pooled head's three)
seeds="$build/fuzz-corpus-safetensors"
mkdir -p "$seeds"
seed() { # NAME DATA_BYTES HEADER
    header=$3
    while [ $(( ${#header} % 8 )) -ne 0 ]; do header="$header "; done
    { printf "$(printf '\\%03o' $(( ${#header} % 256 )) $(( ${#header} / 256 )) 0 0 0 0 0 0)"; printf '%s' "$header"
      head -c "$2" /dev/zero; } > "$seeds/$1"
}
seed valid 24 '{"__metadata__":{"format":"pt"},"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"y":{"dtype":"I64","shape":[1],"data_offsets":[16,24]}}'
seed features 68 '{"x":{"dtype":"F32","shape":[4,2],"data_offsets":[0,32]},"y":{"dtype":"I64","shape":[4],"data_offsets":[32,64]},"v":{"dtype":"I32","shape":[1],"data_offsets":[64,68]}}'
seed checkpoint 32 '{"__metadata__":{"format":"clmsd-checkpoint-1","loss":"bce","samples":"5","classes":"2","features":"2","layers":"2","epoch":"1","step":"3","options":"--lr 1"},"weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"bias":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},"layer_weights":{"dtype":"F32","shape":[2],"data_offsets":[24,32]}}'

ASAN_OPTIONS=detect_leaks=0 "$out/fuzz_safetensors" -max_total_time="$seconds" -max_len=1024 -print_final_stats=1 -close_fd_mask=2 \
    -artifact_prefix="$out/st-" "$seeds" > "$out/log-safetensors" 2>&1 || status=$?
tail -n 20 "$out/log-safetensors"
exit "$status"

#!/bin/sh
# SPDX-License-Identifier: MIT
# The data-parallel tests (tests/test_mpi.c) under mpirun on loopback: 1, 2 and 4 ranks with the
# exact split, 3 ranks with the exact split (one rank holds no rows) and with an even split (shards
# that are not tree nodes), and a job whose 4 ranks run on 4 devices (pocl pthread, pocl basic,
# Oclgrind, rusticl). Each job is bounded in time (mpirun --timeout), so a hang fails.
# Then clmsd-bench-mpi on 2 ranks, briefly: its table and JSON rows.
# Usage: mpi_check.sh TEST_MPI CLMSD_BENCH_MPI
set -eu
test_mpi=$1
bench_mpi=$2
# as root Open MPI asks for both of these; 4 ranks on 2 cores need --oversubscribe
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_rmaps_base_oversubscribe=1
mpirun="mpirun --timeout 600 --bind-to none"
failed=0
job() {
    echo "== mpirun $*"
    # shellcheck disable=SC2086
    $mpirun "$@" 2>&1 || { echo "FAIL: mpirun $*"; failed=1; }
}
for np in 1 2 4 3; do
    job -np "$np" "$test_mpi"
done
job -np 3 "$test_mpi" --split even
# the mixed job: exactly these four implementations registered (tests/icds.sh), one per rank
icd=$(mktemp -d)
trap 'rm -rf "$icd"' EXIT
missing=$("$(dirname "$0")/icds.sh" "$icd/vendors" pocl oclgrind rusticl)
if [ -z "$missing" ]; then
    export OCL_ICD_VENDORS="$icd/vendors" POCL_DEVICES="pthread basic" RUSTICL_ENABLE=llvmpipe
    job -np 1 -x CLMSD_DEVICE=pthread "$test_mpi" : -np 1 -x CLMSD_DEVICE=basic "$test_mpi" \
        : -np 1 -x CLMSD_DEVICE=oclgrind "$test_mpi" : -np 1 -x CLMSD_DEVICE=rusticl "$test_mpi"
else
    echo "SKIP: the mixed-device job needs pocl, Oclgrind and rusticl; not installed: $missing"
fi
unset OCL_ICD_VENDORS POCL_DEVICES
json=$(mktemp)
job -np 2 "$bench_mpi" --runs 2 --shapes quest,binary --json "$json"
[ "$(grep -c '"bench": "mpi_train_step".*"ranks": 2' "$json")" -eq 2 ] || { echo "FAIL: clmsd-bench-mpi wrote no JSON rows"; failed=1; }
rm -f "$json"
[ "$failed" -eq 0 ] && echo "PASS: every MPI job" || exit 1

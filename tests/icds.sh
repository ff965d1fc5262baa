#!/bin/sh
# SPDX-License-Identifier: MIT
# Registers exactly the named OpenCL implementations in a folder for OCL_ICD_VENDORS, never every
# file of /etc/OpenCL/vendors (Mesa's package adds Clover there, which one process must not load
# beside Oclgrind by accident: docs/portability.md). Prints the names it could not register.
# Usage: icds.sh DIR pocl|oclgrind|rusticl|clover...
set -eu
dir=$1
shift
mkdir -p "$dir"
for impl in "$@"; do
    case $impl in
    pocl) lib=libpocl.so.2 ;;
    oclgrind) lib=/usr/lib/oclgrind/liboclgrind-rt-icd.so ;;
    rusticl) lib=libRusticlOpenCL.so.1 ;;
    clover) lib=libMesaOpenCL.so.1 ;;
    *) echo "icds.sh: unknown implementation $impl" >&2; exit 2 ;;
    esac
    # a library name resolves through the loader's cache (ldconfig lives in /sbin, which a user's
    # PATH may lack; without it the name is registered unchecked); a path must exist
    case $lib in
    /*) [ -e "$lib" ] || { echo "$impl"; continue; } ;;
    *)
        ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)
        if [ -x "$ldconfig" ] && ! "$ldconfig" -p 2>/dev/null | grep -q "$lib"; then
            echo "$impl"
            continue
        fi
        ;;
    esac
    echo "$lib" > "$dir/$impl.icd"
done

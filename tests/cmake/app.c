/* SPDX-License-Identifier: MIT */
/* Links against clmsd found by find_package(clmsd): its version, and the host reference stream's
 * first word, Philox4x32-10 of counter 0 and key 0 (docs/rng.md). */
#include <clmsd.h>
#include <clmsd_ref.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    uint32_t u = clmsd_ref_stream_word(0, 0, 0, 0);
    printf("clmsd %s, u(0, 0, 0, 0) = %08x\n", clmsd_version_string(), (unsigned)u);
    return strcmp(clmsd_version_string(), CLMSD_VERSION_STRING) != 0 || u != 0x6627e8d5u;
}

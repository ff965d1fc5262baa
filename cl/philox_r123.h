/* SPDX-License-Identifier: MIT */
/* Flattened into the kernel text at build time by tools/embed_cl.py. */
#include <Random123/philox.h>

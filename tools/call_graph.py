#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Prints the library's file-level call graph (who calls whose clmsd__ functions and engine and
tiling tables)
and fails when it has a circle: data must flow head -> engine -> kernels -> helpers, never back.

usage: tools/call_graph.py [SRC_DIR]
"""
import pathlib
import re
import sys


def main(src):
    files = sorted(pathlib.Path(src).rglob("*.c"))
    files = [f for f in files if "cli" not in f.relative_to(src).parts]  # the tool is a user of the library
    text = {str(f.relative_to(src).with_suffix("")): re.sub(r"/\*.*?\*/|//[^\n]*", "", f.read_text(), flags=re.S) for f in files}
    defined = {}
    for name, body in text.items():
        for m in re.finditer(r"^[a-z_][^\n;=]*?\b(clmsd__\w+)\s*(\(|=)", body, re.M):
            defined.setdefault(m.group(1), name)
    edges = {name: set() for name in text}
    for name, body in text.items():
        # a generated launch function (clmsd__run_<kernel>, tools/kernel_list.py) calls clmsd__run_kernel
        body = re.sub(r"\bclmsd__run_\w+\(", "clmsd__run_kernel(", body)
        for use in set(re.findall(r"\b(clmsd__\w+)\b", body)):
            owner = defined.get(use)
            if owner and owner != name:
                edges[name].add(owner)
    for name in sorted(edges):
        print("%-16s -> %s" % (name, ", ".join(sorted(edges[name])) or "(leaf)"))
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(edges[n]):
            if state.get(m) == 1:
                raise SystemExit("FAIL: a circle: " + " -> ".join(stack[stack.index(m):] + [m]))
            if not state.get(m):
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(edges):
        if not state.get(n):
            visit(n)
    print("PASS: no circle among %d files" % len(edges))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "src")

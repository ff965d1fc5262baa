#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""README.md's C example is examples/quickstart.c, verbatim: the first ```c block after the README
first names examples/quickstart.c must equal the file (which says it is copied into the README).
On a difference, prints a unified diff from the file to the README's block and fails.
Usage: readme_example.py SOURCE_DIR"""
import difflib
import re
import sys
from pathlib import Path

EXAMPLE = "examples/quickstart.c"


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    readme = (root / "README.md").read_text(encoding="utf-8")
    example = (root / EXAMPLE).read_text(encoding="utf-8")
    named = readme.find(f"`{EXAMPLE}`")
    if named < 0:
        print(f"FAIL: README.md does not name `{EXAMPLE}`")
        return 1
    block = re.compile(r"^```c\n(.*?)^```$", re.S | re.M).search(readme, named)
    if not block:
        print(f"FAIL: no ```c block in README.md after it names `{EXAMPLE}`")
        return 1
    shown = block.group(1)
    if shown == example:
        print(f"PASS: README.md's C example is {EXAMPLE} ({example.count(chr(10))} lines)")
        return 0
    line = readme.count("\n", 0, block.start(1)) + 1
    sys.stdout.writelines(
        difflib.unified_diff(
            example.splitlines(keepends=True),
            shown.splitlines(keepends=True),
            fromfile=EXAMPLE,
            tofile=f"README.md (the ```c block from line {line})",
        )
    )
    print(f"FAIL: README.md's C example differs from {EXAMPLE} (diff above): copy the file into the README")
    return 1


if __name__ == "__main__":
    sys.exit(main())

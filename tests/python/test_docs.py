# SPDX-License-Identifier: MIT
"""The Python examples of README.md and docs/python.md run as they are written."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def first_python_block(path, after):
    text = path.read_text(encoding="utf-8")
    start = text.index(after)
    return re.compile(r"^```python\n(.*?)^```$", re.S | re.M).search(text, start).group(1)


@pytest.mark.parametrize("path, after", [("README.md", "## Python"), ("docs/python.md", "## Use")])
def test_example_runs(path, after, capsys):
    code = first_python_block(ROOT / path, after)
    exec(compile(code, path, "exec"), {"__name__": "example"})
    assert capsys.readouterr().out  # the examples print their losses

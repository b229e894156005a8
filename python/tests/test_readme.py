"""The README's Python blocks run as written (issue 25): each block tagged `<!-- test: pytest -->`
runs with the names it leaves to the reader (base, queries, more, ids, a sift_base.fvecs file)
defined, in a scratch directory. scripts/check_docs.py checks that every Python block is tagged."""

import re
from pathlib import Path

import numpy as np

import vecaccel

README = Path(__file__).resolve().parents[2] / "README.md"


def tagged_python_blocks():
    text = README.read_text()
    return re.findall(r"^<!-- test: pytest -->\n```python\n(.*?)^```$", text, re.S | re.M)


def test_the_readme_has_python_blocks():
    assert tagged_python_blocks(), "no block tagged <!-- test: pytest --> in README.md"


def test_every_python_block_of_the_readme_runs(tmp_path, monkeypatch):
    rng = np.random.default_rng(25)
    base = rng.standard_normal((500, 128)).astype(np.float32)
    vecaccel.write_vectors(tmp_path / "sift_base.fvecs", base)
    monkeypatch.chdir(tmp_path)
    for number, block in enumerate(tagged_python_blocks()):
        names = {
            "base": base,
            "queries": rng.standard_normal((5, 128)).astype(np.float32),
            "more": rng.standard_normal((20, 128)).astype(np.float32),
            "ids": np.arange(10_000, 10_020, dtype=np.int64),
        }
        exec(compile(block, f"README.md python block {number}", "exec"), names)

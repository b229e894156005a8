"""A search that ends early (timeout, Ctrl-C) leaves its submitted GPU work running: the memory
that work reads must outlive it. Each case runs in a child process, since getting this wrong
is a segmentation fault (lavapipe reads freed memory), not an exception."""

import subprocess
import sys
import textwrap

import pytest

SETUP = """
import numpy as np, vecaccel
rng = np.random.default_rng(3)
base = rng.standard_normal((25000, 128)).astype(np.float32)
queries = rng.standard_normal((300, 128)).astype(np.float32)
"""


def run_child(code):
    done = subprocess.run([sys.executable, "-c", SETUP + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout.split(), done.stderr


@pytest.mark.parametrize("then", ["index.reset()", "del index"])
def test_index_reset_or_dropped_after_a_timed_out_search_keeps_memory_until_its_work_ends(then):
    rc, out, err = run_child(f"""
        index = vecaccel.FlatIndex(128)
        index.add(base)
        try:
            index.search(queries, 10, timeout=0.1)
        except vecaccel.Error as e:
            print(e.code)
        {then}
        print("survived")
    """)
    assert rc == 0 and out == ["timeout", "survived"], (rc, out, err)


def test_knn_that_timed_out_keeps_its_base_until_its_work_ends():
    rc, out, err = run_child("""
        try:
            vecaccel.knn(base, queries, 10, timeout=0.1)
        except vecaccel.Error as e:
            print(e.code)
        D, I = vecaccel.knn(base[:100], queries[:2], 3)
        print(I.shape)
    """)
    assert rc == 0 and out[0] == "timeout", (rc, out, err)

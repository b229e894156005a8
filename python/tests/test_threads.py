"""Threads and signals: the GIL is released while the GPU works, searches from several threads
run at once, and Ctrl-C stops a running search through its stop token."""

import _thread
import sys
import signal
import threading
import time

import numpy as np
import pytest

import vecaccel
from reference import reference_knn


@pytest.fixture(scope="module")
def big(context):
    """Searching all 2,000 queries takes a second or more on lavapipe, 200 of them a few hundred
    ms."""
    rng = np.random.default_rng(3)
    index = vecaccel.FlatIndex(64, "l2", context)
    index.add(rng.standard_normal((20000, 64)).astype(np.float32))
    return index, rng.standard_normal((2000, 64)).astype(np.float32)


def test_searches_from_four_threads_equal_sequential_results(context):
    rng = np.random.default_rng(8)
    base = rng.integers(-4, 5, size=(3000, 16)).astype(np.float32)
    index = vecaccel.FlatIndex(16, "l2", context)
    index.add(base)
    query_sets = [rng.integers(-4, 5, size=(50, 16)).astype(np.float32) for _ in range(4)]
    results = [None] * 4
    start = threading.Barrier(4)

    def run(i):
        start.wait()
        results[i] = [index.search(query_sets[i], 8) for _ in range(5)]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for queries, runs in zip(query_sets, results):
        D_ref, I_ref = reference_knn(base, queries, 8, "l2")
        for D, I in runs:
            np.testing.assert_array_equal(I, I_ref)
            np.testing.assert_array_equal(D, D_ref)


def test_small_searches_from_many_threads_coalesce_each_with_its_own_k_and_errors(context):
    rng = np.random.default_rng(11)
    base = rng.integers(-4, 5, size=(1500, 8)).astype(np.float32)  # exact distances
    index = vecaccel.FlatIndex(8, "l2", context)
    index.add(base)
    assert index.coalescing_window == pytest.approx(0.0005)
    index.coalescing_window = 0.002
    assert index.coalescing_window == pytest.approx(0.002)
    with pytest.raises(ValueError, match="coalescing_window"):
        index.coalescing_window = -1.0
    ks = [1, 4, 9, 16, 3, 7]
    queries = [rng.integers(-4, 5, size=(1 + i % 2, 8)).astype(np.float32) for i in range(6)]
    bad = queries[5].copy()
    bad[0, 3] = np.nan
    results = [None] * 6
    errors = []
    start = threading.Barrier(6)

    def run(i):
        start.wait()
        runs = []
        for r in range(3):
            if i == 5 and r == 1:
                try:
                    index.search(bad, ks[i])
                except (vecaccel.Error, ValueError) as e:
                    errors.append(e)
                continue
            runs.append(index.search(queries[i], ks[i]))
        results[i] = runs

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 1
    for i, runs in enumerate(results):
        D_ref, I_ref = reference_knn(base, queries[i], ks[i], "l2")
        for D, I in runs:
            np.testing.assert_array_equal(I, I_ref)
            np.testing.assert_array_equal(D, D_ref)


def count_while(search, counter_thread_is_main):
    """(iterations of a pure-Python counting loop made while `search` ran, seconds it ran). A
    search that held the GIL lets the loop run only for a switch interval after it."""
    state = {"count": 0, "running": True}
    during = {}

    def count():
        while state["running"]:
            state["count"] += 1

    def timed_search():
        before, started = state["count"], time.perf_counter()
        search()
        during["result"] = (state["count"] - before, time.perf_counter() - started)
        state["running"] = False

    if counter_thread_is_main:
        worker = threading.Thread(target=timed_search)
        worker.start()
        count()
        worker.join()
    else:
        counter = threading.Thread(target=count)
        counter.start()
        time.sleep(0.01)
        timed_search()
        counter.join()
    return during["result"]


def counting_rate():
    state = {"count": 0, "running": True}
    threading.Timer(0.1, lambda: state.update(running=False)).start()
    started = time.perf_counter()
    while state["running"]:
        state["count"] += 1
    return state["count"] / (time.perf_counter() - started)


@pytest.mark.parametrize("search_on_main_thread", [False, True])
def test_the_gil_is_released_while_a_search_runs(big, search_on_main_thread):
    index, queries = big
    counted, seconds = count_while(lambda: index.search(queries[:200], 10), not search_on_main_thread)
    # Holding the GIL would allow ~switch interval / seconds (< 1%) of the loop's free rate.
    assert seconds > 20 * sys.getswitchinterval()
    assert counted > 0.05 * counting_rate() * seconds


def interrupt_once_running(context, submitted):
    """Ctrl-C as the signal handler sees it, once the context has submitted GPU work beyond
    `submitted` (the search is running), not after a fixed delay: on a fast machine the search
    ended before a 0.2 s timer fired. `submitted` is counted by the caller before the search
    starts: read here, on a loaded machine this thread could first run after the search's last
    submission, wait for a change that never came, and the search ended (DID NOT RAISE)."""
    while context.stats()["operations"] == submitted:
        time.sleep(0.001)
    _thread.interrupt_main()


@pytest.fixture
def python_handles_sigint():
    """Python's own SIGINT handler: a process started with SIGINT ignored (a background job of a
    non-interactive shell, as CI runs may be) has none, and interrupt_main() then does nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_a_running_search_and_the_index_stays_usable(context, python_handles_sigint):
    # A quarter of `big`'s rows: the search that is stopped runs a batch or two first.
    rng = np.random.default_rng(3)
    index = vecaccel.FlatIndex(64, "l2", context)
    index.add(rng.standard_normal((5000, 64)).astype(np.float32))
    queries = rng.standard_normal((2000, 64)).astype(np.float32)
    D_before, I_before = index.search(queries[:3], 10)
    # Many query batches (about five): the stop is noticed between batches, before the last
    # even where a loaded machine wakes the interrupter late.
    many = np.tile(queries, (10, 1))
    submitted = index.context.stats()["operations"]
    interrupter = threading.Thread(target=interrupt_once_running,
                                   args=(index.context, submitted))
    interrupter.start()
    with pytest.raises(KeyboardInterrupt) as interrupt:
        index.search(many, 10)
    interrupter.join()
    # The stop token ended the search: the library's cancelled error is noted on the interrupt.
    notes = getattr(interrupt.value, "__notes__", [])
    assert any(note.startswith("vecaccel: cancelled: ") for note in notes), notes
    D, I = index.search(queries[:3], 10)
    np.testing.assert_array_equal(I, I_before)
    np.testing.assert_array_equal(D, D_before)

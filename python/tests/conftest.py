"""Shared fixtures. Run with PYTHONPATH=<build>/python (scripts/test.sh does, with the
validation layer on: VECACCEL_VALIDATION=1); any validation message fails the test that
caused it, as in the C++ suite."""

import numpy as np
import pytest

import vecaccel


@pytest.fixture(scope="session")
def context():
    return vecaccel.Context()


@pytest.fixture(autouse=True)
def no_validation_messages():
    before = vecaccel.info()["validation_messages"]
    yield
    after = vecaccel.info()["validation_messages"]
    assert after == before, f"{after - before} validation message(s), see stderr"


@pytest.fixture
def rng():
    return np.random.default_rng(12)


# pytest setup for the nnc Python package: imports it from the build tree (NNC_BUILD, default
# build/ beside this checkout's sources), and gives the tests that build's tools.
import os
import sys

import pytest

SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("NNC_BUILD", os.path.join(SOURCE, "build")))
sys.path.insert(0, os.path.join(BUILD, "python"))


@pytest.fixture
def tools():
    return {name: os.path.join(BUILD, "bin", name) for name in ("nnc", "nnrun", "nnc-example-mlp")}


@pytest.fixture
def fixture_data():
    """The small MLP fixture's data: 80 rows of 64 features, 10 classes."""
    import numpy
    base = os.path.join(SOURCE, "test", "train", "mlp_adamw_clip")
    return (numpy.load(os.path.join(base, "features.npy")),
            numpy.load(os.path.join(base, "labels.npy")))

# `pip install .` offline: a venv over Debian's python3 (its numpy, setuptools and wheel), pip
# without build isolation or an index, setup.py building _nnc with this checkout's CMake build
# (NNC_BUILD_DIR: the build under test, so nothing is compiled twice). Then `import nnc` from
# outside the source tree trains a tiny model.
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import BUILD, SOURCE

TRAIN = textwrap.dedent("""
    import numpy, nnc
    from nnc import layers
    assert nnc.__file__.startswith(VENV), nnc.__file__
    m = nnc.Model("tiny")
    x = m.input("x", [8, 4])
    y = m.input("y", [8], dtype="i64", role="labels")
    logits = layers.Linear(m, "fc", 4, 2)(x)
    m.set_loss(m.cross_entropy(logits, y))
    m.add_output(logits)
    plan = nnc.compile(m, optimizer={"kind": "sgd", "learning_rate": 0.5}, seed=1)
    rng = numpy.random.RandomState(0)
    features = rng.randn(32, 4).astype(numpy.float32)
    labels = (features[:, 0] > 0).astype(numpy.int64)
    losses = []
    class Losses(nnc.Callback):
        def on_epoch_end(self, metrics):
            losses.append(metrics["train_loss"])
    plan.fit((features, labels), epochs=10, callbacks=[Losses()], progress="none")
    accuracy = (plan.predict(features).argmax(1) == labels).mean()
    print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}, accuracy {accuracy:.2f}")
    assert losses[-1] < losses[0] and accuracy >= 0.9
""")


def test_pip_install_offline_into_a_venv(tmp_path):
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("needs Debian's /usr/bin/python3 (python3-venv, python3-setuptools)")
    venv = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)],
                   check=True)
    env = dict(os.environ, NNC_BUILD_DIR=BUILD, PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-build-isolation",
                              "--no-index", SOURCE], env=env, capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    assert "Successfully installed nnc-" in install.stdout

    # From elsewhere: the installed package, not the build tree's (conftest's sys.path).
    run = subprocess.run([str(venv / "bin" / "python"), "-c",
                          f"VENV = {str(venv)!r}\n" + TRAIN],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "accuracy" in run.stdout

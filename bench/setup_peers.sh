#!/bin/bash
# Installs the training benchmark's peers (bench/train_bench.py) into their own virtual
# environment, outside CI: PyTorch 2.x and JAX (CPU) from PyPI. Debian's PyTorch 1.13
# (/usr/bin/python3, python3-torch) needs nothing here.
#
# usage: bench/setup_peers.sh [VENV]   (default: .venv-bench at the repository root)
#
# PyTorch comes from its CPU wheel index when that is reachable, else from PyPI (the default
# wheel there bundles CUDA libraries, which cost disk but run fine on a CPU). Each peer is
# installed on its own, so that one failing leaves the other usable; train_bench.py reports a
# peer it cannot import as "missing" with the import error.
set -u
cd "$(dirname "$0")/.."
venv=${1:-.venv-bench}
python=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv" || { echo "setup_peers: cannot create $venv with $python" >&2; exit 1; }
fi
pip="$venv/bin/python -m pip install --quiet"
status=0

if "$venv/bin/python" -c "import torch" 2>/dev/null; then
  echo "setup_peers: torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)') already installed"
elif $pip --index-url https://download.pytorch.org/whl/cpu torch 2>/dev/null || $pip torch; then
  echo "setup_peers: installed torch"
else
  echo "setup_peers: torch could not be installed" >&2
  status=1
fi

if "$venv/bin/python" -c "import jax" 2>/dev/null; then
  echo "setup_peers: jax $("$venv/bin/python" -c 'import jax; print(jax.__version__)') already installed"
elif $pip "jax[cpu]"; then
  echo "setup_peers: installed jax"
else
  echo "setup_peers: jax could not be installed" >&2
  status=1
fi
exit $status

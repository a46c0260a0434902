#!/bin/bash
# Installs the training benchmark's peers (bench/train_bench.py) into their own virtual
# environment, outside CI: PyTorch 2.x and JAX (CPU) from PyPI. Debian's PyTorch 1.13
# (/usr/bin/python3, python3-torch) needs nothing here.
#
# usage: bench/setup_peers.sh [--torch-index URL] [VENV]   (default VENV: .venv-bench at the
#        repository root)
#
# PyTorch comes from PyPI, whose default wheel bundles CUDA libraries (disk, but it runs fine on
# a CPU), or from --torch-index (PyTorch's CPU-only wheel index, where reachable). Each peer is
# installed on its own, so that one failing leaves the other usable; train_bench.py reports a
# peer it cannot import as "missing" with the import error.
set -u
cd "$(dirname "$0")/.."
torch_index=()
if [ "${1:-}" = --torch-index ]; then
  torch_index=(--index-url "$2")
  shift 2
fi
venv=${1:-.venv-bench}
python=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv" || { echo "setup_peers: cannot create $venv with $python" >&2; exit 1; }
fi
pip="$venv/bin/python -m pip install --quiet"
status=0
version() { "$venv/bin/python" -c "import $1; print($1.__version__)" 2>/dev/null; }

if version torch >/dev/null; then
  echo "setup_peers: torch $(version torch) already installed"
elif $pip "${torch_index[@]}" torch; then
  echo "setup_peers: installed torch"
else
  echo "setup_peers: torch could not be installed" >&2
  status=1
fi

if version jax >/dev/null; then
  echo "setup_peers: jax $(version jax) already installed"
elif $pip "jax[cpu]"; then
  echo "setup_peers: installed jax"
else
  echo "setup_peers: jax could not be installed" >&2
  status=1
fi
exit $status

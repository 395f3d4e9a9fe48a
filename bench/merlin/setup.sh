#!/usr/bin/env bash
# The peer of bench/merlin: NVIDIA Merlin Models 23.8.0 on TensorFlow 2.12.1
# (CPU), in its own virtual environment (bench/merlin/.venv), never in CI.
#
#   bash bench/merlin/setup.sh
#
# The pins are what installs and runs on Debian 12's Python 3.11: pip 24.0
# (newer pip refuses the merlin-models sdist), dask/distributed 2023.7.1,
# dask-cuda 23.8.0, pandas 1.5.3, numpy 1.24.3, numba 0.57.1, pyarrow 12.0.1,
# tensorflow-metadata 1.13.1.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${here}/.venv"
if [[ ! -x "${venv}/bin/python3" ]]; then
  /usr/bin/python3 -m venv "${venv}"
fi
"${venv}/bin/python3" -m pip install --quiet --disable-pip-version-check 'pip==24.0'
"${venv}/bin/python3" -m pip install --quiet --disable-pip-version-check \
  'tensorflow-cpu==2.12.1' 'merlin-models==23.8.0' 'merlin-core==23.8.0' \
  'dask==2023.7.1' 'distributed==2023.7.1' 'dask-cuda==23.8.0' 'pandas==1.5.3' 'numpy==1.24.3' \
  'numba==0.57.1' 'pyarrow==12.0.1' 'tensorflow-metadata==1.13.1' psutil
"${venv}/bin/python3" -c 'import merlin.models.tf as mm, tensorflow as tf; print("merlin-models", mm.__version__ if hasattr(mm, "__version__") else "?", "tensorflow", tf.__version__)'

#!/bin/bash
# Unpacks the binaries (tar.xz through Python: no xz needed) and Fashion-MNIST into /tmp.
cd "$(dirname "$0")"
python3 -c "import tarfile; tarfile.open('bin.tar.xz').extractall('/tmp/s12')"
mkdir -p /tmp/fm && for f in *.gz; do gunzip -c $f > /tmp/fm/$(basename $f .gz); done
cp torch_*.py points.txt few.txt /tmp/s12/
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__)"
cat /tmp/s12/bin/COMMIT; date -u

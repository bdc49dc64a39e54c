#!/usr/bin/env bash
# make quickstart: train the template plugin (an MLP) on Fashion-MNIST end to
# end with labrun and print its results table. Takes seconds on two idle
# cores (longer when they are shared). usage: tools/quickstart.sh [BUILD] [section.key=value ...]
set -euo pipefail
build=build
if [ $# -gt 0 ] && [[ "$1" != *=* ]]; then build=$1; shift; fi
data=/usr/share/datasets/fashion-mnist
labrun="$build/bin/labrun"
if [ ! -x "$labrun" ] || [ ! -f "$build/plugins/lab_template.so" ]; then
  echo "quickstart: $labrun or the template plugin is missing; run: make" >&2
  exit 1
fi
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  if [ ! -f "$data/$f" ]; then
    echo "quickstart: $data/$f is missing; run: make deps (it installs dataset-fashion-mnist)" >&2
    exit 1
  fi
done
echo "quickstart: labrun template experiments/template/fashion-mnist.ini $*" >&2
echo >&2
"$labrun" template experiments/template/fashion-mnist.ini "$@"

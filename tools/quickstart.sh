#!/usr/bin/env bash
# make quickstart: train NoProp-DT (the noprop plugin) on a Fashion-MNIST
# subset end to end with labrun and print its results table (about 3 minutes
# on two idle cores; see experiments/noprop/quickstart.ini for the expected
# accuracy). QUICKSTART=template runs the template MLP instead (seconds). usage: tools/quickstart.sh [BUILD] [section.key=value ...]
set -euo pipefail
build=build
if [ $# -gt 0 ] && [[ "$1" != *=* ]]; then build=$1; shift; fi
data=/usr/share/datasets/fashion-mnist
labrun="$build/bin/labrun"
plugin=${QUICKSTART:-noprop}
case $plugin in
  noprop) ini=experiments/noprop/quickstart.ini ;;
  template) ini=experiments/template/fashion-mnist.ini ;;
  *) echo "quickstart: QUICKSTART must be noprop or template" >&2; exit 2 ;;
esac
if [ ! -x "$labrun" ] || [ ! -f "$build/plugins/lab_$plugin.so" ]; then
  echo "quickstart: $labrun or the $plugin plugin is missing; run: make" >&2
  exit 1
fi
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  if [ ! -f "$data/$f" ]; then
    echo "quickstart: $data/$f is missing; run: make deps (it installs dataset-fashion-mnist)" >&2
    exit 1
  fi
done
echo "quickstart: labrun $plugin $ini $*" >&2
echo >&2
"$labrun" "$plugin" "$ini" "$@"

#!/usr/bin/env bash
# Checks (and with --install, installs) the Debian packages labrun needs.
# Quiet and quick when everything is present.
set -euo pipefail
PKGS=(
  gcc make pkg-config
  libopenblas-openmp-dev   # sgemm; the OpenMP build shares our thread pool
  libiniparser-dev         # INI reading under the strict config layer
  libcriterion-dev         # unit tests
  clang libclang-rt-14-dev # libFuzzer targets and sanitizer runtimes
  gnuplot-nox              # labrun plot
  dataset-fashion-mnist    # quickstart data, tests
  python3-torch python3-numpy # benchmark references and test fixtures
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "${1:-}" != "--install" ]; then
  echo "missing packages: ${missing[*]} (run: make deps)" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"

#!/usr/bin/env bash
# Checks (and with --install, installs) the Debian packages labrun needs.
# Quiet and quick when everything is present.
set -euo pipefail
PKGS=(
  gcc g++ make pkg-config   # g++: the CUDA emulator (tests/emu) compiles the kernels as C++
  libopenblas-openmp-dev   # sgemm; the OpenMP build shares our thread pool
  libiniparser-dev         # INI reading under the strict config layer
  libcriterion-dev         # unit tests
  clang libclang-rt-14-dev # libFuzzer targets and sanitizer runtimes
  gnuplot-nox              # labrun plot
  dataset-fashion-mnist    # quickstart data, tests
  python3-torch python3-numpy # benchmark references and test fixtures
  espeak-ng                # pal: word/phrase clips at data time (without it: skipped with a message)
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Optional: Python's safetensors package lets a test check checkpoint interop
# both ways; without it that test skips and says so.
opt_py() {
  python3 -c "import safetensors, numpy" 2>/dev/null && return 0
  [ "${1:-}" = "--install" ] || return 0
  python3 -m pip install -q --disable-pip-version-check safetensors numpy >/dev/null 2>&1 \
    || echo "deps: optional python safetensors not installed (interop test will skip)"
}
if [ ${#missing[@]} -eq 0 ]; then opt_py "${1:-}"; exit 0; fi
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
opt_py --install
echo "deps: done"

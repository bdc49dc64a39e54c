#!/usr/bin/env bash
# Builds and runs libFuzzer targets: ./tools/fuzz.sh SECONDS tests/fuzz/fuzz_x.c ...
#
# Each target is linked with clang -fsanitize=fuzzer,address,undefined
# against the library sources (framework/**/*.c except the CLI, and
# kernels/cpu/*.c), compiled once into $BUILD/fuzz/obj and reused while no
# source or header is newer. Each target runs for SECONDS with a seed corpus
# of small valid files (made below per target, plus any files in
# tests/fuzz/seeds/<target>/) and prints one line. A crash, leak, timeout or
# undefined behaviour fails the script and leaves the reproducer and log in
# $BUILD/fuzz/. Without clang or libFuzzer it prints one "skip" line and
# succeeds.
#
# FUZZ_RUNS=N runs N executions per target instead of a time limit.
set -uo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 SECONDS tests/fuzz/fuzz_x.c ..." >&2
  exit 2
fi
SECS=$1
shift
[ $# -eq 0 ] && { echo "  skip  fuzz: no targets"; exit 0; }

cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
OUT=$ROOT/$BUILD/fuzz
CC=${FUZZ_CC:-clang}
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
BLAS_LIB=/usr/lib/$MULTIARCH/openblas-openmp
BLAS_INC=/usr/include/$MULTIARCH/openblas-openmp
mkdir -p "$OUT/obj" "$OUT/corpus"

# --- can we fuzz at all? -------------------------------------------------------
if ! command -v "$CC" >/dev/null 2>&1; then
  echo "  skip  fuzz: $CC not found (install clang and libclang-rt-14-dev: make deps)"
  exit 0
fi
probe=$OUT/probe
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' >"$probe.c"
if ! "$CC" -fsanitize=fuzzer,address,undefined "$probe.c" -o "$probe" >"$probe.log" 2>&1; then
  echo "  skip  fuzz: $CC cannot link -fsanitize=fuzzer (libFuzzer runtime missing: libclang-rt-14-dev)"
  exit 0
fi

SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
CFLAGS="-std=c11 -D_GNU_SOURCE -O1 -g -fopenmp $SAN -Iframework/include -Iframework/core -Ikernels/cpu -I$BLAS_INC"
LIBS="-L$BLAS_LIB -Wl,-rpath,$BLAS_LIB -lopenblas -liniparser -ldl -lpthread -lm"

# --- the library, compiled once ------------------------------------------------
newest_header=$(find framework kernels/cpu -name '*.h' -printf '%T@\n' 2>/dev/null | sort -n | tail -1)
objs=()
fail=0
while IFS= read -r src; do
  obj=$OUT/obj/${src//\//_}.o
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] ||
     [ "$(stat -c %Y "$obj")" -lt "${newest_header%.*}" ]; then
    if ! "$CC" $CFLAGS -fsanitize=fuzzer-no-link -c "$src" -o "$obj" 2>"$obj.log"; then
      echo "  FAIL  fuzz: $src does not compile with $CC (see $obj.log)"
      rm -f "$obj"
      fail=1
      continue
    fi
  fi
  objs+=("$obj")
done < <(find framework kernels/cpu -name '*.c' -not -path 'framework/cli/*' | sort)
[ $fail -ne 0 ] && exit 1
rm -f "$OUT/liblab_fuzz.a"
ar rcs "$OUT/liblab_fuzz.a" "${objs[@]}"

# --- seed corpora: small valid files ------------------------------------------
DATA=data
[ -d "$DATA/planetoid" ] || DATA=../shared/data

le16() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $((($1 >> 8) & 255)))"; }
le32() { le16 $(($1 & 65535)); le16 $((($1 >> 16) & 65535)); }
# wav TAG CHANNELS RATE BITS DATA-FILE
wav() {
  local n; n=$(stat -c %s "$5")
  printf 'RIFF'; le32 $((36 + n + (n & 1))); printf 'WAVEfmt '; le32 16
  le16 "$1"; le16 "$2"; le32 "$3"; le32 $(($3 * $2 * $4 / 8)); le16 $(($2 * $4 / 8)); le16 "$4"
  printf 'data'; le32 "$n"; cat "$5"; [ $((n & 1)) -eq 1 ] && printf '\0'
  return 0
}

seed_inflate() {
  local d=$1 t=$OUT/tmp.txt
  printf 'tensor gradient scope kernel tensor gradient scope kernel labrun\n%.0s' {1..20} >"$t"
  gzip -n -1 -c "$t" >"$d/text1.gz"; gzip -n -9 -c "$t" >"$d/text9.gz"
  printf 'hi' | gzip -n -c >"$d/fixed.gz"
  printf '' | gzip -n -c >"$d/empty.gz"
  head -c 300 "$DATA/mnist/t10k-labels-idx1-ubyte.gz" 2>/dev/null | gzip -n -c >"$d/stored.gz"
  tail -c +11 "$d/text9.gz" | head -c -8 >"$d/raw.deflate"
  printf '\x01\x03\x00\xfc\xffabc' >"$d/stored.deflate"
}
seed_idx() {
  local d=$1
  printf '\0\0\x08\x01\0\0\0\x03\x01\x02\x03' >"$d/labels.idx"
  printf '\0\0\x08\x03\0\0\0\x02\0\0\0\x02\0\0\0\x02\x00\x10\x20\x30\x40\x50\x60\xff' >"$d/images.idx"
  printf '\0\0\x0d\x02\0\0\0\x01\0\0\0\x02\x3f\xc0\0\0\xc0\x20\0\0' >"$d/float.idx"
  printf '\0\0\x0b\x01\0\0\0\x02\xff\xfe\x01\x02' >"$d/short.idx"
  gzip -n -c "$d/images.idx" >"$d/images.idx.gz"
}
seed_cifar() {
  local d=$1
  { printf '\x00\x07'; head -c 3072 /dev/zero | tr '\0' '\x80'; } >"$d/cifar10.bin"
  { printf '\x01\x13\x63'; head -c 3072 /dev/zero | tr '\0' '\x11'; } >"$d/cifar100.bin"
}
seed_pickle() {
  local d=$1 f
  for f in cora.y pubmed.y citeseer.ty cora.x; do
    [ -f "$DATA/planetoid/ind.$f" ] && cp "$DATA/planetoid/ind.$f" "$d/$f"
  done
  printf '\x80\x02ccollections\ndefaultdict\nq\x01c__builtin__\nlist\nq\x02\x85Rq\x03(K\x00]q\x04(K\x01K\x02eK\x01]q\x05K\x00aK\x02]r\x06\x00\x00\x00K\x00au.' >"$d/graph.pkl"
}
seed_tu() {
  local d=$1
  printf '1, 2\n2, 1\n2,3\n3,2\n4, 5\n5, 4\n\x001\n1\n1\n2\n2\n\x00-1\n1\n\x000\n3\n1\n1\n0\n\x000.5, 1\n1,2\n-3.25,4e-2\n1,1\n0,0\n' >"$d/full.txt"
  printf '1, 2\n2, 1\n\x001\n1\n\x003\n' >"$d/minimal.txt"
}
seed_wav() {
  local d=$1 s=$OUT/tmp.pcm
  printf '\x00\x40\x00\xc0\xff\x7f\x00\x80\x10\x00\x20\x00' >"$s"
  wav 1 1 8000 16 "$s" >"$d/pcm16.wav"; wav 1 2 16000 16 "$s" >"$d/stereo16.wav"
  wav 1 1 8000 24 "$s" >"$d/pcm24.wav"; wav 1 1 8000 32 "$s" >"$d/pcm32.wav"
  wav 3 1 8000 32 "$s" >"$d/float32.wav"; wav 1 1 8000 8 "$s" >"$d/pcm8.wav"
  printf '\x80\x81' >"$s"; wav 1 1 12000 8 "$s" >"$d/odd8.wav"
  local small; small=$(ls -S "$DATA"/fsdd/recordings/*.wav 2>/dev/null | tail -1)
  [ -n "$small" ] && cp "$small" "$d/fsdd.wav"
  return 0
}

# --- build and run each target -----------------------------------------------------
status=0
for src in "$@"; do
  name=$(basename "$src" .c)
  bin=$OUT/$name
  if ! "$CC" $CFLAGS -fsanitize=fuzzer "$src" "$OUT/liblab_fuzz.a" $LIBS -o "$bin" >"$bin.build.log" 2>&1; then
    echo "  FAIL  $name: build failed (see $bin.build.log)"
    status=1
    continue
  fi
  corpus=$OUT/corpus/$name
  rm -rf "$corpus"
  mkdir -p "$corpus"
  kind=${name#fuzz_}
  if declare -F "seed_$kind" >/dev/null; then "seed_$kind" "$corpus"; fi
  [ -d "tests/fuzz/seeds/$name" ] && cp tests/fuzz/seeds/"$name"/* "$corpus"/ 2>/dev/null
  if [ -n "${FUZZ_RUNS:-}" ]; then limit=(-runs="$FUZZ_RUNS"); else limit=(-max_total_time="$SECS"); fi
  # a fresh directory for new inputs keeps the seed corpus as made above
  work=$OUT/work/$name
  rm -rf "$work"
  mkdir -p "$work"
  (cd "$OUT" && "$bin" "${limit[@]}" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$OUT/$name-" "$work" "$corpus") >"$bin.log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$bin.log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$bin.log" | tail -1)
  if [ $rc -eq 0 ]; then
    if [ -n "${FUZZ_RUNS:-}" ]; then took="$(grep -o 'Done [0-9]* runs in [0-9]* second' "$bin.log" | grep -o 'in [0-9]*' | tail -1)s"
    else took="in ${SECS}s"; fi
    echo "  fuzz  $name: ${runs:-?} runs $took, ${cov:-cov ?}, no crash"
  else
    what=$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer|UndefinedBehaviorSanitizer)[^(]*|runtime error: .*' "$bin.log" | head -1)
    echo "  FAIL  $name: ${what:-exit $rc} after ${runs:-?} runs (log $bin.log, input $OUT/$name-*)"
    status=1
  fi
done
exit $status

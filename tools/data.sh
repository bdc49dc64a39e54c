#!/usr/bin/env bash
# tools/data.sh — `make data`: put the data sets in data/<name>/, verified.
#
# usage: tools/data.sh [NAME ...]        (no NAME: all of them)
#   NAME: mnist fashion-mnist planetoid cora citeseer pubmed tu tu:<NAME>
#         fsdd cifar10 cifar100 all
#
# For each file, the sources tried in order are:
#   1. a copy already in data/ that passes its checksum (left alone);
#   2. $LAB_DATA_MIRROR, a folder of the original files in the same layout as
#      data/ (default: ../shared/data when it exists; set it empty for none);
#   3. system packages: fashion-mnist from /usr/share/datasets/fashion-mnist
#      (Debian package dataset-fashion-mnist; $LAB_DATA_SYSTEM_DIR overrides
#      /usr/share/datasets);
#   4. the canonical URL, with curl (resumable: curl -C - into
#      data/.staging/), unless LAB_DATA_OFFLINE=1. LAB_DATA_URL_BASE=<url>
#      replaces every canonical URL by <url>/<path under data/> (a private
#      mirror, or the tests' local server). CIFAR is never downloaded: the
#      script says where to put the original binary files.
# Every file is checked before it is moved into data/ (sha256; the SHA-1
# published for CIFAR; the git blob id for ind.pubmed.allx, whose sha256 is
# not known; for Fashion-MNIST the sha256 of the decompressed IDX, since
# Debian re-gzips the files; for FSDD one digest over the sorted
# "sha256  name" list of all 3,000 recordings). A file that fails is never
# moved into place. LAB_DATA_SUMS=<file> replaces the built-in table (tests).
# $LAB_DATA_DEST (default data) is where the data sets go.
#
# Exit status: 0 when every data set asked for is in place; 1 when one is
# missing. A bare run (all) only reports CIFAR and an incomplete PubMed
# without failing, because neither can come from the shared data.
#
# Training runs never download: only this script does.
set -u

cd "$(dirname "$0")/.." || exit 1
DEST=${LAB_DATA_DEST:-data}
if [ -z "${LAB_DATA_MIRROR+x}" ]; then
  MIRROR=""
  [ -d ../shared/data ] && MIRROR=../shared/data
else
  MIRROR=$LAB_DATA_MIRROR
fi
SYSTEM_DIR=${LAB_DATA_SYSTEM_DIR:-/usr/share/datasets}
URL_BASE=${LAB_DATA_URL_BASE:-}
OFFLINE=${LAB_DATA_OFFLINE:-0}
STAGE=$DEST/.staging
FSDD_COMMIT=26eb9aaf76e81b692f806f9140c2d2777410d7a1
FSDD_SPEAKERS="george jackson lucas nicolas theo yweweler"
TU_DEFAULT="MUTAG PROTEINS ENZYMES NCI1 IMDB-BINARY IMDB-MULTI"

TMPD=$(mktemp -d "${TMPDIR:-/tmp}/labdata.XXXXXX") || exit 1
trap 'rm -rf "$TMPD"' EXIT
if [ -n "${LAB_DATA_SUMS:-}" ]; then
  SUMS=$LAB_DATA_SUMS
  [ -f "$SUMS" ] || { echo "data: LAB_DATA_SUMS=$SUMS does not exist" >&2; exit 1; }
else
  SUMS=$TMPD/sums
  cat > "$SUMS" <<'SUMS_END'
# algorithm  digest  path under data/   (see SOURCES.md of shared/data)
sha256 d9656ca7493f3445d737c711710bb36fd432dddd1c0ea32e1d4713c86ebd28e2 tu/MUTAG/MUTAG_A.txt
sha256 4669ce755075ff86c3240709345745886400908fa637a49310459b9c267b3e56 tu/MUTAG/MUTAG_edge_labels.txt
sha256 7d520a4d6c7961c0cdeabe076d8fe27e795b6d373485c9a2b744987e560a2056 tu/MUTAG/MUTAG_graph_indicator.txt
sha256 a1518ea39ba3426bd42f57396b9c4baffe68e9adc718caeeab0119c6591a5f2c tu/MUTAG/MUTAG_graph_labels.txt
sha256 678f429965490e84dd27713017538c995fc05d1621beac910848b600015ee863 tu/MUTAG/MUTAG_node_labels.txt
sha256 66de65e4826e112482ec680bbbdf7c0af56d826ce935c110786d130b79b76b06 tu/MUTAG/README.txt
sha256 4c4b33e272fc95cac6d27ed6d5d12b9a852c8610e91fff59f8f0dbdd5a20df67 tu/PROTEINS/PROTEINS_A.txt
sha256 8d4ff1e852a5c28561e9bffb44cf9490bc552b13a3b6156dd12dc7f44e9afc4a tu/PROTEINS/PROTEINS_graph_indicator.txt
sha256 c0ef9810c440775252872318d0c8adc385588e14bc4c47a2c34aa96ee3c7cdcd tu/PROTEINS/PROTEINS_graph_labels.txt
sha256 54eef829abb37e458a5fbf3a3c581e48e5810e220463c2cd951856b9ceb08f07 tu/PROTEINS/PROTEINS_node_attributes.txt
sha256 f758e8ad3d6e3c026b50833d75f6f90735b94eb3345e4243707f495ca8afea8d tu/PROTEINS/PROTEINS_node_labels.txt
sha256 e9c4ed2c9a4059ddfdc2eb7330ebecfc6c8d42dabd5ce2ee67f28aed0db49da7 tu/PROTEINS/README.txt
sha256 87c061ab61450ece6531db75a889e8fe91c470f262952c4b881fb1f6065c7bad tu/PROTEINS/README.txt~
sha256 5553c84f8f562f3e199dfd27192174f485e85c44c1357661098668937a739cbf tu/ENZYMES/ENZYMES_A.txt
sha256 95ba0fa47eba6f02e6b754a215dc66d5b49de3f45f57a128514301a8d7ed5f46 tu/ENZYMES/ENZYMES_graph_indicator.txt
sha256 04743e08967e61e65cdacbb90f8df6ee53742b3d2e7b84675b85ebac70506856 tu/ENZYMES/ENZYMES_graph_labels.txt
sha256 305a8fc3b12f79fb844ef3374d6a3c8ceeb4887dd4f86bbfe37932c4c5434e7b tu/ENZYMES/ENZYMES_node_attributes.txt
sha256 8263eb9b64efa231a5886343483ccfc0342f2407014763a8f738fd51c32ce770 tu/ENZYMES/ENZYMES_node_labels.txt
sha256 32d5fef501200221a2c0e1af3366797fa443ab8f490231c5fb4a8719e1df48cf tu/ENZYMES/README.txt
sha256 2c028eda59a5fe96e2265a63d9ac236901bd9a7dc658498be13cd704a703076d tu/NCI1/NCI1_A.txt
sha256 ffe5acfa754b057d5ce0dc725c5aadb631628161886cc040d38c719635257dc5 tu/NCI1/NCI1_graph_indicator.txt
sha256 fae44681e70113f496256ae87eaac33b7836e3a97fe8e023933b84fde6a5c8a2 tu/NCI1/NCI1_graph_labels.txt
sha256 dc0a22b6cbff0c939de00373e823977ba32b358f560e4288d7602f7b51407ee2 tu/NCI1/NCI1_node_labels.txt
sha256 1866d918409a22531ef00ff7b0f72200c3a06722342c23c5e3299cebb5cd8757 tu/NCI1/README.txt
sha256 23c8964bab82f81469271186d721131714a265d0ca8c44ae048118da1d0c4092 tu/IMDB-BINARY/IMDB-BINARY_A.txt
sha256 415cc3ba25b8c647dcf34d3de034f675ee070616f3b803be939cb26773489f26 tu/IMDB-BINARY/IMDB-BINARY_graph_indicator.txt
sha256 63a44411fd6342b9c4429828c16e144a2a11ef5244e25bb60f0ffa8b3ee2ffce tu/IMDB-BINARY/IMDB-BINARY_graph_labels.txt
sha256 fb538b23758d78df199272301e57dc74ad5754d6c3d79d5ed0a343193ddf4ec6 tu/IMDB-MULTI/IMDB-MULTI_A.txt
sha256 0274532a0e47dad9cdd21c08995c2265e43040a2c2a3b36c62fdb790994571d3 tu/IMDB-MULTI/IMDB-MULTI_graph_indicator.txt
sha256 613c2357b6b996f6f04b91697a99da87774820f9d08bf22813992f4c7afda855 tu/IMDB-MULTI/IMDB-MULTI_graph_labels.txt
sha256 523de3cafa0f54707a0ab2760a2d32b640ccfe834a081d7d35c894f1fb6d79f5 fsdd/README.md
sha256 3d5ca6597a642520155d73268dd8092468b017c587b2b863b7e2211a49deacb9 fsdd/SHA256SUMS
sha256 2ac30345d95c9ec933a817ee0bdd6a5f077f8c184a20e696910192d534414668 planetoid/ind.citeseer.allx
sha256 f704b2d986dde6c2669934de1f3ae5696a6cf9455c0f6b2646a2d135ea0a1c95 planetoid/ind.citeseer.ally
sha256 d79a4ef9d3e7169aee8946145f6b7306e35bc79bffad26346cfb94e10e9912a7 planetoid/ind.citeseer.graph
sha256 2af990671580b6b2df5d158d1038f8292e30c9cd821b5453f399659b25b723d4 planetoid/ind.citeseer.test.index
sha256 539a8906a2da97628d212f2fdd668c109a8b3f0d36574b59e5d3fd5b5303da21 planetoid/ind.citeseer.tx
sha256 55e5bd1ba1e733a04598753ad1a8d57957f4b8f89e74519f41f4f4938767e4ce planetoid/ind.citeseer.ty
sha256 d20de19150741e555de0ed037195630fc194114ebc7fd72ced62810148aa22f6 planetoid/ind.citeseer.x
sha256 8ba87e515d8e3ee3cf52f6d2c5b86aa73f11ecad825a808455209ec26cd54924 planetoid/ind.citeseer.y
sha256 9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543 planetoid/ind.cora.allx
sha256 2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71 planetoid/ind.cora.ally
sha256 58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d planetoid/ind.cora.graph
sha256 297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875 planetoid/ind.cora.test.index
sha256 b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a planetoid/ind.cora.tx
sha256 41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad planetoid/ind.cora.ty
sha256 23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab planetoid/ind.cora.x
sha256 94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1 planetoid/ind.cora.y
sha256 0c37bbe3b5014ec365e9d393cf4791925e5ed94fb194305d74f064a8d7b50f0e planetoid/ind.pubmed.ally
sha256 5b89f0036ca22909471f1e6558eb42fa06e0c730a577bde5b058b40638f81dc9 planetoid/ind.pubmed.graph
sha256 b101d421688bbaecbd82e8a18f1e282378d6830f3a37666f28ebc47f844341b5 planetoid/ind.pubmed.test.index
sha256 4eb5f5d0f30f26497eb0ac6ac9719d09c67e284f1ed0385c93f3ef27a671da3d planetoid/ind.pubmed.tx
sha256 ee2e0d4819d9fbcc403689c3bf2e49face401b605932f093bc58ab6461130fdd planetoid/ind.pubmed.ty
sha256 fbe9cb5c47200d1b7769a26e579be3b7130b556831f9d850e77c4c74f2599b33 planetoid/ind.pubmed.x
sha256 e6c807633307a07ed659249006536a147c7999c797f11a2560752990181b41b3 planetoid/ind.pubmed.y
sha256 20f52db82d6d85d5f67d2fa42c3fb705d05934be44329314ab17b05d0c012f7e tu/MUTAG.zip
sha256 fe9d19741637486ea1fd285bf669fce0b117e10b03cdd379f6a5e6197fc830ae tu/PROTEINS.zip
sha256 0ca7125d7978788346fc6ba5c3cc643b6122153b304220c2230bcb09f99f8ffb tu/ENZYMES.zip
sha256 eae6b0c076d59e667c67de0039cfc3214eefb91a8dddc2fa3099126da02d4376 tu/NCI1.zip
sha256 2a4abb6431ec1ab025a6fbcd3b546607191f79a1e0aef0f42cd8bd4ec1546116 tu/IMDB-BINARY.zip
sha256 1d22bb88ee69f9f7c09eb7f072dadec56e3f91ad4b14cfd99231379b68073883 tu/IMDB-MULTI.zip
sha256 8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6 mnist/t10k-images-idx3-ubyte.gz
sha256 f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6 mnist/t10k-labels-idx1-ubyte.gz
sha256 440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609 mnist/train-images-idx3-ubyte.gz
sha256 3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c mnist/train-labels-idx1-ubyte.gz
gz-sha256 5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b fashion-mnist/t10k-images-idx3-ubyte.gz
gz-sha256 0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34 fashion-mnist/t10k-labels-idx1-ubyte.gz
gz-sha256 c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888 fashion-mnist/train-images-idx3-ubyte.gz
gz-sha256 bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9 fashion-mnist/train-labels-idx1-ubyte.gz
gitblob 3b86bccf08111c37c632a9dd8ab63db25ea76361 planetoid/ind.pubmed.allx
listing 1801eae019c063377d98f831d3f93574f259475df7332bb0e3d1b080fb5e6959 fsdd/recordings
sha1 67eb016db431130d61cd03c7ad570b013799c88c cifar10/cifar-10-batches-bin/test_batch.bin
sha1 aadd24acce27caa71bf4b10992e9e7b2d74c2540 cifar10/cifar-10-batches-bin/data_batch_1.bin
sha1 c0ba65cce70568cd57b4e03e9ac8d2a5367c1795 cifar10/cifar-10-batches-bin/data_batch_2.bin
sha1 1dd00a74ab1d17a6e7d73e185b69dbf31242f295 cifar10/cifar-10-batches-bin/data_batch_3.bin
sha1 aab85764eb3584312d3c7f65fd2fd016e36a258e cifar10/cifar-10-batches-bin/data_batch_4.bin
sha1 26e2849e66a845b7f1e4614ae70f4889ae604628 cifar10/cifar-10-batches-bin/data_batch_5.bin
sha1 e207cd2e05b73b1393c74c7f5e7bea451d63e08e cifar100/cifar-100-binary/train.bin
sha1 8fb6623e830365ff53cf14adec797474f5478006 cifar100/cifar-100-binary/test.bin
SUMS_END
fi
mkdir -p "$DEST" || exit 1

FAILED=0
LOOKED=()   # why each missing file is missing (one line per source tried)
NOTES=()    # checksum failures and other remarks for the current data set
SOURCES=()  # where the current data set's files came from
GOT=""      # the digest verify() computed, on a mismatch
WHY=""      # why download() failed

# "algorithm digest" of a path under data/, or nothing.
sum_of() { awk -v p="$1" '$1 !~ /^#/ && $3 == p { print $1, $2; exit }' "$SUMS"; }

# verify REL FILE_OR_DIR: 0 matches, 1 differs (GOT says how), 2 no sum known.
verify() {
  local s algo want
  s=$(sum_of "$1")
  [ -n "$s" ] || return 2
  algo=${s%% *}
  want=${s#* }
  case $algo in
    sha256) GOT=$(sha256sum < "$2" | cut -c1-64) ;;
    sha1) GOT=$(sha1sum < "$2" | cut -c1-40) ;;
    gz-sha256) GOT=$(gzip -dc < "$2" 2>/dev/null | sha256sum | cut -c1-64) ;;
    gitblob) GOT=$({ printf 'blob %d\0' "$(stat -c %s "$2")"; cat "$2"; } | sha1sum | cut -c1-40) ;;
    listing) GOT=$(cd "$2" && LC_ALL=C sha256sum -- *.wav 2>/dev/null | LC_ALL=C sort -k2 | sha256sum | cut -c1-64) ;;
    *) GOT="unknown algorithm '$algo'"; return 1 ;;
  esac
  [ "$GOT" = "$want" ] && return 0
  GOT="$algo $GOT, expected $want"
  return 1
}

add_source() {
  local s
  for s in "${SOURCES[@]+"${SOURCES[@]}"}"; do [ "$s" = "$1" ] && return; done
  SOURCES+=("$1")
}

# download URL OUT: fetch into OUT.part (resuming a partial one), then OUT.
download() {
  local url=$1 out=$2 rc
  if [ "$OFFLINE" = 1 ]; then WHY="$url (not downloaded: LAB_DATA_OFFLINE=1)"; return 1; fi
  if ! command -v curl >/dev/null 2>&1; then WHY="$url (not downloaded: curl is not installed)"; return 1; fi
  mkdir -p "$(dirname "$out")"
  curl -fsSL --connect-timeout 10 --retry 2 -C - -o "$out.part" "$url" 2>"$TMPD/curl.err"
  rc=$?
  if [ $rc -eq 33 ] || [ $rc -eq 36 ]; then
    # The server cannot resume (no byte ranges): start again from zero.
    rm -f "$out.part"
    curl -fsSL --connect-timeout 10 --retry 2 -o "$out.part" "$url" 2>"$TMPD/curl.err"
    rc=$?
  fi
  if [ $rc -ne 0 ]; then
    WHY="$url (download failed, curl exit $rc: $(tr '\n' ' ' < "$TMPD/curl.err" | cut -c1-150))"
    [ $rc -eq 22 ] && rm -f "$out.part" # an HTTP error: nothing worth resuming
    return 1
  fi
  mv -f "$out.part" "$out"
}

# place REL CANDIDATE ORIGIN: verify a staged file and move it into data/.
place() {
  local rel=$1 cand=$2 v
  verify "$rel" "$cand"
  v=$?
  if [ $v -eq 0 ]; then
    mkdir -p "$(dirname "$DEST/$rel")"
    mv -f "$cand" "$DEST/$rel"
    return 0
  fi
  if [ $v -eq 2 ]; then
    NOTES+=("$rel: no checksum is known, so it was not installed")
  else
    NOTES+=("$3 fails its checksum ($GOT): not installed")
  fi
  rm -f "$cand"
  return 1
}

# fetch_file REL [CANDIDATE...]: get data/REL from data/ itself, the mirror,
# the extra candidate paths, or its URL. 0 when it is in place.
fetch_file() {
  local rel=$1 stage=$STAGE/$1 src url
  shift
  if [ -f "$DEST/$rel" ]; then
    if verify "$rel" "$DEST/$rel"; then add_source "already in $DEST/"; return 0; fi
    NOTES+=("$DEST/$rel fails its checksum ($GOT): replacing it")
  fi
  mkdir -p "$(dirname "$stage")" || return 1
  for src in ${MIRROR:+"$MIRROR/$rel"} "$@"; do
    if [ -f "$src" ]; then
      if cp -f "$src" "$stage.copy" && place "$rel" "$stage.copy" "$src"; then
        add_source "copied from $(dirname "$src")"
        return 0
      fi
      LOOKED+=("$src (fails its checksum)")
    else
      LOOKED+=("$src (no such file)")
    fi
  done
  url=$(url_for "$rel")
  [ -n "$url" ] || return 1
  if [ -f "$stage.part" ] && verify "$rel" "$stage.part"; then
    mv -f "$stage.part" "$stage" # a complete earlier download
  elif ! download "$url" "$stage"; then
    LOOKED+=("$WHY")
    return 1
  fi
  if place "$rel" "$stage" "$url"; then
    add_source "downloaded from ${URL_BASE:-the canonical URLs}"
    return 0
  fi
  LOOKED+=("$url (downloaded, but it fails its checksum)")
  return 1
}

url_for() {
  local rel=$1 f=${1##*/}
  if [ -n "$URL_BASE" ]; then
    case $rel in cifar*) return ;; esac
    echo "${URL_BASE%/}/$rel"
    return
  fi
  case $rel in
    mnist/*) echo "https://ossci-datasets.s3.amazonaws.com/mnist/$f" ;;
    fashion-mnist/*) echo "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/$f" ;;
    planetoid/*) echo "https://github.com/kimiyoung/planetoid/raw/master/data/$f" ;;
    tu/*.zip) echo "https://www.chrsmrrs.com/graphkerneldatasets/$f" ;;
    fsdd/recordings/*) echo "https://raw.githubusercontent.com/Jakobovski/free-spoken-digit-dataset/$FSDD_COMMIT/recordings/$f" ;;
    fsdd/README.md) echo "https://raw.githubusercontent.com/Jakobovski/free-spoken-digit-dataset/$FSDD_COMMIT/README.md" ;;
  esac
}

begin_set() { LOOKED=(); NOTES=(); SOURCES=(); MISSING=(); }

# report NAME REQUIRED [HINT]: one summary block for the data set just tried.
report() {
  local name=$1 required=$2 hint=${3:-} n
  if [ ${#MISSING[@]} -eq 0 ]; then
    printf 'data: %-14s ok (%s)\n' "$name" "$(IFS=';'; echo "${SOURCES[*]:-}" | sed 's/;/; /g')"
  else
    printf 'data: %-14s MISSING %s\n' "$name" "$(printf '%s\n' "${MISSING[@]}" | awk '
      { d = $0; sub(/\/[^\/]*$/, "", d); b = substr($0, length(d) + 2)
        if (!(d in f)) { o[++n] = d; f[d] = b; c[d] = 1 } else { f[d] = f[d] ", " b; c[d]++ } }
      END { for (j = 1; j <= n; j++) printf "%s%s/%s%s%s", (j > 1 ? "; " : ""), o[j], (c[o[j]] > 1 ? "{" : ""), f[o[j]], (c[o[j]] > 1 ? "}" : "") }')"
    # One line per folder and reason: "looked: dir/{a, b} (no such file)".
    [ ${#LOOKED[@]} -gt 0 ] && printf '%s\n' "${LOOKED[@]}" | awk '
      { i = index($0, " (")
        if (i == 0) { order[++n] = $0; one[$0] = 1; next }
        p = substr($0, 1, i - 1); r = substr($0, i + 1); d = p; sub(/\/[^\/]*$/, "", d)
        b = substr(p, length(d) + 2); k = d "\t" r
        if (!(k in files)) { order[++n] = k; files[k] = b; cnt[k] = 1 } else { files[k] = files[k] ", " b; cnt[k]++ } }
      END { for (j = 1; j <= n; j++) {
              k = order[j]
              if (k in one) { printf "        looked: %s\n", k; continue }
              split(k, a, "\t")
              if (cnt[k] == 1) printf "        looked: %s/%s %s\n", a[1], files[k], a[2]
              else printf "        looked: %s/{%s} %s\n", a[1], files[k], a[2] } }'
    [ -n "$hint" ] && printf '        hint: %s\n' "$hint"
    [ "$required" = 1 ] && FAILED=1
  fi
  for n in "${NOTES[@]+"${NOTES[@]}"}"; do printf '        note: %s\n' "$n"; done
}

do_files() { # REQUIRED NAME HINT REL...
  local required=$1 name=$2 hint=$3 rel
  shift 3
  begin_set
  for rel in "$@"; do fetch_file "$rel" || MISSING+=("$rel"); done
  report "$name" "$required" "$hint"
}

MNIST_FILES="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"

do_mnist() {
  local f rels=()
  for f in $MNIST_FILES; do rels+=("mnist/$f"); done
  do_files "$1" mnist "put the four .gz files of http://yann.lecun.com/exdb/mnist/ in $DEST/mnist/, or set LAB_DATA_MIRROR" "${rels[@]}"
}

do_fashion() {
  local f
  begin_set
  for f in $MNIST_FILES; do
    fetch_file "fashion-mnist/$f" "$SYSTEM_DIR/fashion-mnist/$f" || MISSING+=("fashion-mnist/$f")
  done
  report fashion-mnist "$1" "apt-get install dataset-fashion-mnist (files in /usr/share/datasets/fashion-mnist), or set LAB_DATA_MIRROR"
}

do_planetoid() { # REQUIRED NAME
  local e rels=() hint="put the ind.$2.* files of https://github.com/kimiyoung/planetoid (data/) in $DEST/planetoid/"
  for e in x y tx ty allx ally graph test.index; do rels+=("planetoid/ind.$2.$e"); done
  [ "$2" = pubmed ] && hint="$hint; shared/data lacks ind.pubmed.allx (over 4 MiB): any copy with git blob id 3b86bccf08111c37c632a9dd8ab63db25ea76361 is accepted"
  do_files "$1" "$2" "$hint" "${rels[@]}"
}

extract_zip() { # ZIP DIR
  rm -rf "$2" && mkdir -p "$2" || return 1
  if command -v unzip >/dev/null 2>&1; then
    unzip -q -o "$1" -d "$2" 2>"$TMPD/unzip.err"
  else
    python3 -m zipfile -e "$1" "$2" 2>"$TMPD/unzip.err"
  fi
}

do_tu() { # REQUIRED NAME
  local req=$1 name=$2 rel f files=() need=() zip url x
  begin_set
  while read -r rel; do files+=("$rel"); done < <(awk -v p="tu/$name/" '$1 !~ /^#/ && index($3, p) == 1 { print $3 }' "$SUMS")
  if [ ${#files[@]} -eq 0 ]; then
    MISSING+=("tu/$name")
    LOOKED+=("no checksums are known for tu/$name, so make data cannot install it")
    report "tu:$name" "$req" "put ${name}_A.txt, ${name}_graph_indicator.txt and ${name}_graph_labels.txt (from https://www.chrsmrrs.com/graphkerneldatasets/$name.zip) in $DEST/tu/$name/ yourself"
    return
  fi
  for rel in "${files[@]}"; do fetch_file "$rel" || need+=("$rel"); done
  if [ ${#need[@]} -gt 0 ]; then
    zip=$STAGE/tu/$name.zip
    url=$(url_for "tu/$name.zip")
    if [ -f "$zip" ] || download "$url" "$zip"; then
      verify "tu/$name.zip" "$zip" || NOTES+=("$url differs from the archive recorded in SOURCES.md ($GOT); checking the files inside")
      x=$STAGE/tu/$name.unzipped
      if extract_zip "$zip" "$x"; then
        for rel in "${need[@]}"; do
          f=$(find "$x" -type f -name "${rel##*/}" | head -1)
          if [ -n "$f" ] && place "$rel" "$f" "$url:${rel##*/}"; then
            add_source "downloaded from ${URL_BASE:-the canonical URLs}"
          else
            MISSING+=("$rel")
            [ -z "$f" ] && LOOKED+=("$url (the archive has no ${rel##*/})")
          fi
        done
      else
        LOOKED+=("$url (cannot extract: $(head -c 150 "$TMPD/unzip.err"))")
        MISSING+=("${need[@]}")
      fi
      rm -rf "$x"
      [ ${#MISSING[@]} -eq 0 ] && rm -f "$zip"
    else
      LOOKED+=("$WHY")
      MISSING+=("${need[@]}")
    fi
  fi
  report "tu:$name" "$req" "put the files of https://www.chrsmrrs.com/graphkerneldatasets/$name.zip in $DEST/tu/$name/"
}

fsdd_names() {
  if [ -n "${LAB_DATA_FSDD_NAMES:-}" ]; then printf '%s\n' $LAB_DATA_FSDD_NAMES; return; fi # tests
  local d s i
  for d in 0 1 2 3 4 5 6 7 8 9; do
    for s in $FSDD_SPEAKERS; do
      for i in $(seq 0 49); do echo "${d}_${s}_${i}.wav"; done
    done
  done
}

do_fsdd() {
  local req=$1 rec=fsdd/recordings stage=$STAGE/fsdd/recordings cfg n
  begin_set
  if [ -d "$DEST/$rec" ] && verify "$rec" "$DEST/$rec"; then
    add_source "already in $DEST/"
  else
    [ -d "$DEST/$rec" ] && NOTES+=("$DEST/$rec fails its checksum ($GOT): replacing it")
    local ok=0
    if [ -n "$MIRROR" ] && [ -d "$MIRROR/$rec" ]; then
      rm -rf "$stage" && mkdir -p "$stage" && cp -f "$MIRROR/$rec"/*.wav "$stage"/ 2>/dev/null
      if verify "$rec" "$stage"; then
        ok=1
        add_source "copied from $MIRROR/fsdd"
      else
        LOOKED+=("$MIRROR/$rec (fails its checksum: $GOT)")
        if [ -f "$MIRROR/fsdd/SHA256SUMS" ]; then
          n=$(cd "$stage/.." && sha256sum -c --quiet "$(cd "$MIRROR/fsdd" && pwd)/SHA256SUMS" 2>/dev/null | head -5 | tr '\n' ' ')
          [ -n "$n" ] && NOTES+=("per SHA256SUMS: $n")
        fi
        rm -rf "$stage"
      fi
    else
      LOOKED+=("${MIRROR:-LAB_DATA_MIRROR (unset)}/$rec (no such folder)")
    fi
    if [ $ok = 0 ]; then
      if [ "$OFFLINE" = 1 ]; then
        LOOKED+=("$(url_for "$rec/x.wav" | sed 's|/x\.wav$||')/*.wav (not downloaded: LAB_DATA_OFFLINE=1)")
      elif ! command -v curl >/dev/null 2>&1; then
        LOOKED+=("$(url_for "$rec/x.wav" | sed 's|/x\.wav$||')/*.wav (not downloaded: curl is not installed)")
      else
        # One curl for every missing recording (files already staged by an
        # interrupted run are kept), then one digest over them all.
        mkdir -p "$stage"
        cfg=$TMPD/fsdd.curl
        : > "$cfg"
        while read -r n; do
          [ -s "$stage/$n" ] && continue
          printf 'url = "%s"\noutput = "%s/%s"\n' "$(url_for "$rec/$n")" "$stage" "$n" >> "$cfg"
        done < <(fsdd_names)
        if [ -s "$cfg" ] && ! curl -fsSL --connect-timeout 10 --retry 2 -K "$cfg" 2>"$TMPD/curl.err"; then
          LOOKED+=("$(url_for "$rec/x.wav" | sed 's|/x\.wav$||')/*.wav (download failed: $(head -c 150 "$TMPD/curl.err" | tr '\n' ' '))")
        elif verify "$rec" "$stage"; then
          ok=1
          add_source "downloaded from ${URL_BASE:-the canonical URLs}"
        else
          LOOKED+=("$(url_for "$rec/x.wav" | sed 's|/x\.wav$||')/*.wav (downloaded, but the recordings fail their checksum: $GOT)")
          rm -rf "$stage"
        fi
      fi
    fi
    if [ $ok = 1 ]; then
      rm -rf "$DEST/$rec" && mkdir -p "$DEST/fsdd" && mv "$stage" "$DEST/$rec"
    else
      MISSING+=("$rec/*.wav")
    fi
  fi
  fetch_file fsdd/README.md || MISSING+=(fsdd/README.md)
  # SHA256SUMS is shared/data's own list (not upstream): copied when the mirror has it.
  if [ -n "$MIRROR" ] && [ -f "$MIRROR/fsdd/SHA256SUMS" ]; then fetch_file fsdd/SHA256SUMS || true; fi
  report fsdd "$req" "put the recordings/*.wav of https://github.com/Jakobovski/free-spoken-digit-dataset (commit $FSDD_COMMIT) in $DEST/fsdd/recordings/"
}

do_cifar() { # REQUIRED cifar10|cifar100
  local req=$1 name=$2 sub files f rel hint
  if [ "$name" = cifar10 ]; then
    sub=cifar-10-batches-bin
    files="data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin"
    hint="CIFAR-10 is not downloaded by make data. Get cifar-10-binary.tar.gz (binary version, 162 MiB, SHA-1 fab780a1e191a7eda0f345501ccd62d20f7ed891) from https://www.cs.toronto.edu/~kriz/cifar.html and run: mkdir -p $DEST/cifar10 && tar -xzf cifar-10-binary.tar.gz -C $DEST/cifar10  (giving $DEST/cifar10/$sub/data_batch_1.bin ...), or put $sub/ in \$LAB_DATA_MIRROR/cifar10/ and rerun make data"
  else
    sub=cifar-100-binary
    files="train.bin test.bin"
    hint="CIFAR-100 is not downloaded by make data. Get cifar-100-binary.tar.gz (binary version, SHA-1 a0bb982c76b83111308126cc779a992fa506b90b) from https://www.cs.toronto.edu/~kriz/cifar.html and run: mkdir -p $DEST/cifar100 && tar -xzf cifar-100-binary.tar.gz -C $DEST/cifar100  (giving $DEST/cifar100/$sub/train.bin), or put $sub/ in \$LAB_DATA_MIRROR/cifar100/ and rerun make data"
  fi
  begin_set
  for f in $files; do
    rel=$name/$sub/$f
    fetch_file "$rel" ${MIRROR:+"$MIRROR/$name/$f" "$MIRROR/$sub/$f"} || MISSING+=("$rel")
  done
  report "$name" "$req" "$hint"
}

# do_pal: the PAL plugin's clips are synthesised from FSDD (data/fsdd or the
# mirror) and, when espeak-ng is installed, espeak-ng word clips, by the
# plugin itself (labrun pal experiments/pal/data.ini), with a manifest of
# sizes, seeds, espeak-ng use and sha256; skipped with a message until labrun
# and the plugin are built. (Added by the pal plugin's author.)
do_pal() {
  local bin=${BUILD:-build}/bin/labrun
  if [ ! -x "$bin" ] || [ ! -e "${BUILD:-build}/plugins/lab_pal.so" ]; then
    echo "data: pal: skipped (build labrun and the pal plugin first: make all)"; return 0
  fi
  for ini in experiments/pal/tiny-data.ini experiments/pal/data.ini; do
    local dir; dir=$(awk -F' *= *' '$1 == "dir" { print $2 }' "$ini")
    if [ -e "$dir/manifest.json" ]; then echo "data: pal: $dir in place"; continue; fi
    "$bin" pal "$ini" run.out=data/pal/.runs >/dev/null || { echo "data: pal: $ini failed" >&2; FAILED=1; }
  done
}

# --- which data sets ----------------------------------------------------------
ARGS=("$@")
[ ${#ARGS[@]} -eq 0 ] && ARGS=(all)
for a in "${ARGS[@]}"; do
  case $a in
    all)
      do_mnist 1; do_fashion 1
      do_planetoid 1 cora; do_planetoid 1 citeseer; do_planetoid 0 pubmed
      for t in $TU_DEFAULT; do do_tu 1 "$t"; done
      do_fsdd 1
      do_cifar 0 cifar10; do_cifar 0 cifar100
      do_pal ;;
    mnist) do_mnist 1 ;;
    fashion-mnist) do_fashion 1 ;;
    planetoid) do_planetoid 1 cora; do_planetoid 1 citeseer; do_planetoid 1 pubmed ;;
    cora|citeseer|pubmed) do_planetoid 1 "$a" ;;
    tu) for t in $TU_DEFAULT; do do_tu 1 "$t"; done ;;
    tu:*) do_tu 1 "${a#tu:}" ;;
    fsdd) do_fsdd 1 ;;
    pal) do_pal ;;
    cifar10|cifar100) do_cifar 1 "$a" ;;
    -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
    *) echo "data: unknown data set '$a'; known: all mnist fashion-mnist planetoid cora citeseer pubmed tu tu:<NAME> fsdd cifar10 cifar100" >&2
       FAILED=1 ;;
  esac
done
[ -d "$STAGE" ] && find "$STAGE" -depth -type d -empty -delete 2>/dev/null
[ $FAILED -eq 0 ] || echo "data: some data sets are missing (see above)" >&2
exit $FAILED

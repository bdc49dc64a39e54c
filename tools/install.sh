#!/usr/bin/env bash
# Installs labrun under PREFIX: headers, liblab.so/.a (and liblab_cuda.so
# when built), the labrun binary, the plugins, and a pkg-config file, so
# that a plugin builds out of the tree with
#
#   cc $(pkg-config --cflags --libs lab) -shared -fPIC mine.c -o lab_mine.so
#
# usage: tools/install.sh PREFIX BUILD   (make install PREFIX=... runs it)
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 PREFIX BUILD" >&2
  exit 2
fi
prefix=$1
build=$2
case "$prefix" in /*) ;; *) prefix="$(pwd)/$prefix" ;; esac
for f in "$build/lib/liblab.so" "$build/lib/liblab.a" "$build/bin/labrun"; do
  if [ ! -f "$f" ]; then
    echo "install: $f is missing; run make first" >&2
    exit 1
  fi
done
version=$(sed -n 's/^#define LAB_VERSION "\(.*\)"/\1/p' framework/include/lab/lab.h)
[ -n "$version" ] || { echo "install: no LAB_VERSION in framework/include/lab/lab.h" >&2; exit 1; }

install -d "$prefix/bin" "$prefix/lib/pkgconfig" "$prefix/lib/labrun/plugins" "$prefix/include/lab"
install -m 644 framework/include/lab/*.h "$prefix/include/lab/"
install -m 755 "$build/lib/liblab.so" "$prefix/lib/"
install -m 644 "$build/lib/liblab.a" "$prefix/lib/"
[ -f "$build/lib/liblab_cuda.so" ] && install -m 755 "$build/lib/liblab_cuda.so" "$prefix/lib/"
install -m 755 "$build/bin/labrun" "$prefix/bin/"
nplug=0
for p in "$build"/plugins/lab_*.so; do
  [ -f "$p" ] || continue
  install -m 755 "$p" "$prefix/lib/labrun/plugins/"
  nplug=$((nplug + 1))
done

# The static library needs what liblab.so links against.
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
cat > "$prefix/lib/pkgconfig/lab.pc" <<PC
prefix=$prefix
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include
plugindir=\${libdir}/labrun/plugins

Name: lab
Description: labrun: a C tensor runtime with autograd and experiment plugins
Version: $version
Cflags: -I\${includedir} -fvisibility=hidden
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -llab
Libs.private: -L/usr/lib/$multiarch/openblas-openmp -lopenblas -liniparser -fopenmp -ldl -lpthread -lm
PC

echo "installed labrun $version in $prefix: bin/labrun, lib/liblab.{so,a}, include/lab/, $nplug plugin(s) in lib/labrun/plugins, lib/pkgconfig/lab.pc"

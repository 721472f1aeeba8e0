#!/usr/bin/env bash
# gcc_work.sh SRC OUT - the real-programs suite's gcc workload: copies SRC
# (prog.c, api_conformance.c and its headers) to OUT, compiles and runs
# prog.c, compiles api_conformance.c and prints the object's md5 (the object
# code must not depend on the allocator).
set -u
src=$1 out=$2
rm -rf "$out" && mkdir -p "$out" && cp "$src"/* "$out"/ && cd "$out" || exit 1
gcc -O2 -o prog prog.c || exit 1
./prog || exit 1
# the object code must not depend on the allocator
gcc -O2 -c api_conformance.c -o api.o || exit 1
echo "object $(md5sum api.o | cut -c1-32)"

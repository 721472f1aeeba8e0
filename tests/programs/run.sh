#!/usr/bin/env bash
# programs - real programs with and without the library, outputs compared
# (each run twice: without LD_PRELOAD, i.e. glibc, and with the library):
#   python_regrtest  python3's own test modules (list, dict, set, unicode,
#                    json, re, ...), the final "Result:" line compared (the
#                    inline workload instead when the 'test' package is
#                    missing)
#   python_system    more of them, on what a runtime does around its heap:
#                    fork and wait in a threaded process, mmap, ctypes, gc
#                    and weakrefs, os, pickle, sqlite3, zlib, hashlib,
#                    decimal (skipped when the 'test' package is missing)
#   python_inline    python_inline.py: dicts, strings, json, re, bytearrays
#   python_threads   python_threads.py: 16 threads
#   git              git_work.sh: 200 commits, gc, fsck, clone
#   gcc              gcc_work.sh: gcc (under the library) compiles and runs
#                    gcc_prog.c and compiles tests/api/api_conformance.c
#   sqlite3          sqlite_work.sh + sqlite.sql (sqlite3 installed with
#                    apt-get when missing and root)
#   sort             seq | sort -R | sort -n
#   redis            redis_work.sh: Debian's redis-server (linked with
#                    jemalloc: its mallctl, malloc_stats_print and nallocx
#                    calls reach the library) on a Unix socket: strings,
#                    lists, hashes, sets, lazy frees by its background
#                    thread, its dataset digest, INFO memory, MEMORY PURGE
#                    and MALLOC-STATS (the baseline is its own jemalloc;
#                    installed with apt-get when missing and root)
#   bind             bind_work.sh: Debian's named-checkzone (BIND 9's libisc
#                    allocates through jemalloc's mallocx, sdallocx, sallocx
#                    and rallocx) loads and dumps a zone of 100,000 records;
#                    the dump's digest compared (baseline: its own jemalloc;
#                    bind9-utils installed with apt-get when missing and root)
# python3 runs with PYTHONMALLOC=malloc (every object through malloc).
#
# usage: tests/programs/run.sh /abs/path/libswalloc.so   (or SWALLOC_LIB=...)
# ONLY="a b" runs only the named checks; KEEP_WORK=1 keeps the work
# directory (kept anyway on failure). About 50 s.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/blackbox.sh"
blackbox_setup programs "${1:-}"

# ---------------------------------------------------------------------------
# python
PY=""
if command -v python3 >/dev/null 2>&1; then
    # resolve wrappers such as pyenv shims to the real interpreter
    PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
    [ -x "$PY" ] || PY=$(command -v python3)
fi
# PYTHONMALLOC=malloc: route every object allocation through malloc (by
# default pymalloc serves objects <= 512 bytes from its own arenas).
PYENV=(env)
PYVARS=(PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1)

PY_REGR_MODULES="test_list test_dict test_set test_unicode test_json test_re test_bytes test_float test_int test_collections test_deque test_struct test_tuple test_array test_thread"
# (Not test_threading: one of its tests fails without the library too, where
# site imports threading at startup.)
PY_SYSTEM_MODULES="test_fork1 test_wait4 test_mmap test_ctypes test_gc test_weakref test_os test_pickle test_sqlite3 test_zlib test_hashlib test_decimal test_itertools test_functools"

# regrtest NAME TIMEOUT MODULES: runs those of MODULES this python3 has,
# with and without the library; 1 when its 'test' package is missing or
# has none of them (with no module named, regrtest would run them all).
regrtest() {
    local name=$1 t=$2 mods="" m
    "$PY" -c 'import test.support, test.libregrtest' >/dev/null 2>&1 || return 1
    for m in $3; do
        "$PY" -c "import importlib.util,sys; sys.exit(0 if importlib.util.find_spec('test.$m') else 1)" 2>/dev/null &&
            mods="$mods $m"
    done
    [ -n "$mods" ] || return 1
    mkdir -p "$WORK/$name"
    echo "$name modules:$mods"
    # compare only the final "Result: ..." line (the output has timings)
    compare "$name" "$t" "grep -E '^(Tests )?[Rr]esult:' | tail -n 1" \
        "${PYENV[@]}" -C "$WORK/$name" "${PYVARS[@]}" "$PY" -m test -q $mods
    return 0
}

if [ -z "$PY" ]; then
    for c in python_regrtest python_system python_inline python_threads; do
        wanted $c && skip $c "python3 not found"
    done
else
    if wanted python_regrtest && ! regrtest python_regrtest 300 "$PY_REGR_MODULES"; then
        echo "note: python3's 'test' package is not importable (or has none of its modules); running the inline workload in place of python_regrtest"
        compare python_regrtest 300 cat "${PYENV[@]}" "${PYVARS[@]}" "$PY" "$HERE/python_inline.py"
    fi
    if wanted python_system && ! regrtest python_system 300 "$PY_SYSTEM_MODULES"; then
        skip python_system "python3's 'test' package is not importable, or has none of its modules"
    fi
    compare python_inline 180 cat "${PYENV[@]}" "${PYVARS[@]}" "$PY" "$HERE/python_inline.py"
    compare python_threads 180 cat "${PYENV[@]}" "${PYVARS[@]}" "$PY" "$HERE/python_threads.py"
fi

# ---------------------------------------------------------------------------
# git: deterministic history, gc, fsck, clone
if wanted git; then
    if command -v git >/dev/null 2>&1; then
        # the directory argument differs between the two runs; nothing that
        # depends on it is printed
        run_one git.base 0 300 bash "$HERE/git_work.sh" "$WORK/git-base"
        rc0=$RC d0=$DUR
        run_one git.lib 1 300 bash "$HERE/git_work.sh" "$WORK/git-lib"
        rc1=$RC d1=$DUR
        if [ "$rc0" -ne 0 ] || ! grep -q '^commits 200$' "$LOGS/git.base.out"; then
            fail git "baseline failed ($(rc_text "$rc0")): $(short_err "$LOGS/git.base.err")"
        elif [ "$rc1" -ne 0 ]; then
            fail git "with library: $(rc_text "$rc1"): $(short_err "$LOGS/git.lib.err")"
        elif ! cmp -s "$LOGS/git.base.out" "$LOGS/git.lib.out"; then
            fail git "stdout differs: $(diff "$LOGS/git.base.out" "$LOGS/git.lib.out" | head -n 6 | tr '\n' ' ' | cut -c1-400)"
        else
            pass git "(base $d0, lib $d1)"
        fi
        rm -rf "$WORK/git-base" "$WORK/git-lib"
    else
        skip git "git not installed"
    fi
fi

# ---------------------------------------------------------------------------
# gcc: compile (under the library) a program and a large test source, run it
if wanted gcc; then
    mkdir -p "$WORK/gcc-src"
    cp "$HERE/gcc_prog.c" "$WORK/gcc-src/prog.c"
    cp "$HERE/../api/api_conformance.c" "$TESTLIB/malloc_checks.h" "$TESTLIB/overflow_pairs.h" "$TESTLIB/which_malloc.h" "$WORK/gcc-src/"
    compare gcc 120 cat bash "$HERE/gcc_work.sh" "$WORK/gcc-src" "$WORK/gcc-out"
fi

# have_or_install CMD PACKAGE: whether CMD is on the PATH, after installing
# PACKAGE with apt-get when it is missing and we are root.
have_or_install() {
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing $2 with apt-get ..."
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2") \
            >"$LOGS/apt-$2.log" 2>&1
    fi
    command -v "$1" >/dev/null 2>&1
}

# ---------------------------------------------------------------------------
# sqlite3
if wanted sqlite3; then
    if have_or_install sqlite3 sqlite3; then
        compare sqlite3 120 cat bash "$HERE/sqlite_work.sh" "$WORK/sqlite.db" "$HERE/sqlite.sql"
    else
        skip sqlite3 "sqlite3 not installed (and could not be installed)"
    fi
fi

# ---------------------------------------------------------------------------
# sort
if wanted sort; then
    compare sort 60 cat bash -c 'seq 200000 | sort -R --random-source=/dev/zero | sort -n | tail -n 1'
fi

# ---------------------------------------------------------------------------
# redis
if wanted redis; then
    if have_or_install redis-server redis-server && command -v redis-cli >/dev/null 2>&1; then
        compare redis 120 cat bash "$HERE/redis_work.sh" "$WORK/redis"
    else
        skip redis "redis-server not installed (and could not be installed)"
    fi
fi

# ---------------------------------------------------------------------------
# bind
if wanted bind; then
    if have_or_install named-checkzone bind9-utils; then
        compare bind 120 cat bash "$HERE/bind_work.sh" "$WORK/bind"
    else
        skip bind "named-checkzone not installed (and could not be installed)"
    fi
fi

runner_summary

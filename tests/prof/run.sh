#!/usr/bin/env bash
# prof - the heap profiler, black box (tests/prof/prof_sites.c: five
# allocation sites of known live bytes across 4 threads, some freed before
# exit, some leaked), under prof:true,lg_prof_sample:12:
#   estimates    `swalloc prof` on the program's prof.dump: every site's
#                estimated live bytes within 10% of the truth the program
#                prints (a site with nothing live: under 1% of the total)
#   callers      a site's callers are its heaviest stack's (a hand-made
#                profile whose light stack comes first)
#   leak         prof_leak at exit lists the two leaked sites and neither
#                freed one (threads' TLS records aside)
#   final        prof_final wrote PREFIX.PID.SEQ.heap (heap_v2 text)
#   jeprof       Debian's jeprof (libjemalloc-dev) reads the dump and names
#                the same four top functions (skipped when jeprof is missing)
#   svg          `swalloc prof --svg` is well-formed XML with a box (and a
#                <title>) for each live site
#   python3      `swalloc run --prof` on python3 allocating bytearrays in a
#                known function: the interpreter's bytearray path tops the
#                table, and the flame graph names it
#   off          without prof:true, prof.dump is EFAULT and config.prof true
#   interval     lg_prof_interval dumps once per about 2^N bytes allocated
#   newfile      a dump to PREFIX.PID.SEQ.heap follows no symbolic link and
#                writes over no existing file (the next name is written)
#   unwind-gcc   the profiler's cached unwinder gives backtrace(3)'s frames
#   unwind-clang (tests/prof/unwind_check.c, built by each compiler)
#
# usage: tests/prof/run.sh /abs/path/libswalloc.so /abs/path/swalloc-tool
# Prints "ok NAME ..." / "FAIL NAME: reason" per check and one line
# "N passed, M failed"; exit 1 on any failure. About 10 s.

set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/common.sh"
runner_setup prof "${1:-}"
TOOL=${2:-}
if [ -z "$TOOL" ] || [ ! -x "$TOOL" ]; then echo "usage: $0 LIB SWALLOC_TOOL" >&2; exit 2; fi
export LC_ALL=C
unset LD_PRELOAD SWALLOC_CONF MALLOC_CONF

# -rdynamic: prof_leak names the program's functions through dladdr.
if ! gcc -std=gnu11 -O1 -g -rdynamic -pthread -Wall -I"$TESTLIB" -o "$BIN/prof_sites" "$HERE/prof_sites.c" \
        -L"$(dirname "$LIB")" -l:"$(basename "$LIB")" -Wl,-rpath,"$(dirname "$LIB")" >"$LOGS/compile.log" 2>&1; then
    fail compile "$(head -n 5 "$LOGS/compile.log" | tr '\n' ' ' | cut -c1-300)"
    echo "$PASSED passed, $FAILED failed"; exit 1
fi

heap=$WORK/sites.heap
SWALLOC_CONF="prof:true,lg_prof_sample:12,prof_leak:true,prof_final:true,prof_prefix:$WORK/final" \
    timeout 60 "$BIN/prof_sites" "$heap" >"$LOGS/sites.out" 2>"$LOGS/sites.err"
rc=$?
if [ $rc -ne 0 ] || [ ! -s "$heap" ]; then
    fail run "$(rc_text $rc): $(head -c 300 "$LOGS/sites.err")"
    echo "$PASSED passed, $FAILED failed"; exit 1
fi

# estimates: the tool's table against the truth.
"$TOOL" prof "$heap" --top 20 --svg "$WORK/sites.svg" >"$LOGS/prof.out" 2>"$LOGS/prof.err"
report=$(awk '
    FNR == NR { if ($1 == "truth") { truth[$2] = $3; total += $3 }; next }
    { for (s in truth) if ($4 == s) est[s] = $1 }
    END {
        bad = 0
        for (s in truth) {
            e = (s in est) ? est[s] : 0
            if (truth[s] == 0) { ok = e < 0.01 * total; err = 100 * e / total }
            else { err = 100 * (e - truth[s]) / truth[s]; ok = err <= 10 && err >= -10 }
            printf "%s %+.1f%%%s; ", s, err, ok ? "" : " (OUT)"
            if (!ok) bad = 1
        }
        exit bad
    }' "$LOGS/sites.out" "$LOGS/prof.out")
if [ $? -eq 0 ] && [ -n "$report" ]; then pass estimates "($report)"; else fail estimates "$report $(head -c 300 "$LOGS/prof.err")"; fi

# realloc: site_realloc's blocks (64 KiB and up, sampled with probability
# 1 - exp(-16) or more at a 4 KiB period) are estimated at their exact size,
# in every run: a moved block whose sample stayed behind (its record freed
# first, then unrecorded, racing the other thread that took it) showed as
# live bytes of an old size, 1 run in 6 (+4% to +47%). 20 more runs.
truth_realloc=$(awk '$1 == "truth" && $2 == "site_realloc" { print $3 }' "$LOGS/sites.out")
off=""
for i in $(seq 1 20); do
    SWALLOC_CONF="prof:true,lg_prof_sample:12" timeout 60 "$BIN/prof_sites" "$WORK/again.heap" \
        >"$LOGS/again.out" 2>"$LOGS/again.err" || { off="$off run $i: $(rc_text $?);"; continue; }
    est=$("$TOOL" prof "$WORK/again.heap" --top 20 2>>"$LOGS/again.err" | awk '$4 == "site_realloc" { print $1 }')
    [ "$est" = "$truth_realloc" ] || off="$off run $i: $est;"
done
if [ -n "$truth_realloc" ] && [ -z "$off" ]; then
    pass realloc "(site_realloc estimated at its $truth_realloc bytes in 20 runs)"
else
    fail realloc "site_realloc's truth ${truth_realloc:-missing}, estimated:$off"
fi

# callers: a site's callers are those of its heaviest stack, whatever the
# dump's order of stacks (it is a hash table's: python3's bytearray site
# was shown with the callers of a light stack through the same frame).
# Unmapped addresses name themselves.
printf 'heap_v2/1\n  t*: 6: 5100 [6: 5100]\n@ 0x1000 0x2000 0x3000\n  t*: 1: 100 [1: 100]\n@ 0x1000 0x2100 0x3100\n  t*: 5: 5000 [5: 5000]\n\nMAPPED_LIBRARIES:\n' >"$WORK/callers.heap"
callers=$("$TOOL" prof "$WORK/callers.heap" --top 5 2>"$LOGS/callers.err" | grep -E '^ +[0-9]+ ')
if echo "$callers" | grep -q '0x1000  (< 0x2100 < 0x3100)'; then
    pass callers "($(echo "$callers" | tr -s ' ' | head -n 1))"
else
    fail callers "'$callers' $(head -c 300 "$LOGS/callers.err")"
fi

# leak: the report at exit. A record whose stack passes through
# pthread_create is a thread's TLS, live at exit, and may name whichever
# site's malloc started swalloc's background thread (the first allocation
# of the second thread): only the other records must not name the freed
# sites.
leak=$(sed -n '/prof_leak/,$p' "$LOGS/sites.err")
leak_sites=$(awk '/^  #/ { if (rec !~ /pthread_create/) printf "%s", rec; rec = "" } { rec = rec $0 "\n" }
                  END { if (rec !~ /pthread_create/) printf "%s", rec }' <<<"$leak")
if grep -q site_small64 <<<"$leak_sites" && grep -q site_large64k <<<"$leak_sites" \
   && ! grep -qE 'site_medium1k|site_calloc512' <<<"$leak_sites"; then
    pass leak "($(echo "$leak" | head -n 1 | cut -c1-120)...)"
else
    fail leak "$(echo "$leak" | head -n 12 | tr '\n' ' ' | cut -c1-500)"
fi

# final: prof_final's file.
final=$(ls "$WORK"/final.*.heap 2>/dev/null | head -n 1)
if [ -n "$final" ] && head -n 1 "$final" | grep -q '^heap_v2/4096$' && grep -q '^MAPPED_LIBRARIES:' "$final"; then
    pass final "($(basename "$final"))"
else
    fail final "no PREFIX.PID.SEQ.heap with a heap_v2/4096 header: $(ls "$WORK")"
fi

# jeprof: the same top functions.
if command -v jeprof >/dev/null 2>&1; then
    jeprof --text --show_bytes --inuse_space "$BIN/prof_sites" "$heap" >"$LOGS/jeprof.out" 2>"$LOGS/jeprof.err"
    got=$(awk '$1 ~ /^[0-9]+$/ && $2 ~ /%$/ && $1 > 0 {print $6}' "$LOGS/jeprof.out" | head -n 4 | sort | tr '\n' ' ')
    want="site_calloc512 site_large64k site_medium1k site_small64 "
    if [ "$got" = "$want" ]; then
        pass jeprof "($(grep -m1 '^Total' "$LOGS/jeprof.out"); top: $(awk '$1 ~ /^[0-9]+$/ && $1 > 0 {print $6 "=" $1}' "$LOGS/jeprof.out" | head -n 4 | tr '\n' ' '))"
    else
        fail jeprof "top functions '$got', want '$want': $(head -n 8 "$LOGS/jeprof.out" "$LOGS/jeprof.err" | tr '\n' ' ' | cut -c1-400)"
    fi
else
    skip jeprof "jeprof not installed (Debian package libjemalloc-dev)"
fi

# svg: well-formed, a titled box per live site.
if python3 - "$WORK/sites.svg" >"$LOGS/svg.out" 2>&1 <<'EOF'
import sys, xml.dom.minidom
d = xml.dom.minidom.parse(sys.argv[1])
titles = [t.firstChild.data for t in d.getElementsByTagName("title")]
rects = d.getElementsByTagName("rect")
for site in ("site_large64k", "site_medium1k", "site_small64", "site_calloc512"):
    assert any(t.startswith(site + " ") for t in titles), "no box for " + site
assert len(rects) >= 5, "too few boxes"
print("%d boxes" % len(rects))
EOF
then pass svg "($(cat "$LOGS/svg.out"))"; else fail svg "$(tail -n 3 "$LOGS/svg.out" | tr '\n' ' ')"; fi

# python3: a real program under `swalloc run --prof`.
py=$(command -v python3)
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
if [ -n "$py" ]; then
    TMPDIR=$WORK timeout 60 "$TOOL" run --prof --prof-rate 14 --lib "$LIB" -- "$py" -c '
def hog():
    return [bytearray(1000) for _ in range(20000)]
keep = hog()
' >"$LOGS/python.out" 2>"$LOGS/python.err"
    rc=$?
    top=$(sed -n '/^bytes allocated by allocation site/,/^live bytes/p' "$LOGS/python.err" | sed -n 3p)
    svg=$(sed -n 's/^swalloc: flame graph //p' "$LOGS/python.err")
    if [ $rc -eq 0 ] && echo "$top" | grep -q 'PyByteArray' && [ -f "$svg" ] && grep -q 'PyByteArray' "$svg"; then
        pass python3 "(top: $(echo "$top" | tr -s ' ' | cut -c1-140))"
    else
        fail python3 "$(rc_text $rc): top line '$top'; $(tail -n 5 "$LOGS/python.err" | tr '\n' ' ' | cut -c1-300)"
    fi
fi

# off: prof.* answers without profiling (prof_off.c).
if gcc -o "$BIN/off" "$HERE/prof_off.c" -L"$(dirname "$LIB")" -l:"$(basename "$LIB")" -Wl,-rpath,"$(dirname "$LIB")" 2>"$LOGS/off.log" \
   && out=$("$BIN/off") && [ "${out#ok}" != "$out" ]; then
    pass off "($out)"
else
    fail off "${out:-} $(head -c 200 "$LOGS/off.log")"
fi

# interval: lg_prof_interval:24 dumps about once per 16 MiB allocated (256
# MiB in blocks of 1-64 KiB: 16 expected, 10-22 accepted, the estimate
# from the samples being within 13% and the samples random); without it,
# none.
mkdir -p "$WORK/interval" "$WORK/nointerval"
if gcc -o "$BIN/interval" "$HERE/prof_interval.c" -L"$(dirname "$LIB")" -l:"$(basename "$LIB")" -Wl,-rpath,"$(dirname "$LIB")" 2>"$LOGS/interval.log"; then
    out=$(SWALLOC_CONF="prof:true,lg_prof_sample:16,lg_prof_interval:24,prof_prefix:$WORK/interval/p" "$BIN/interval" 256 2>>"$LOGS/interval.log")
    dumps=$(ls "$WORK/interval" | grep -c '\.heap$')
    out0=$(SWALLOC_CONF="prof:true,lg_prof_sample:16,prof_prefix:$WORK/nointerval/p" "$BIN/interval" 256 2>>"$LOGS/interval.log")
    dumps0=$(ls "$WORK/nointerval" | grep -c '\.heap$')
    first=$(ls "$WORK/interval" | head -n 1)
    if [ "$out" = "interval 16777216 24" ] && [ "$dumps" -ge 10 ] && [ "$dumps" -le 22 ] \
       && [ "$out0" = "interval 0 -1" ] && [ "$dumps0" = 0 ] && head -n 1 "$WORK/interval/$first" | grep -q '^heap_v2/65536$'; then
        pass interval "($dumps dumps for 256 MiB at 2^24, none without the option)"
    else
        fail interval "'$out' with $dumps dumps, '$out0' with $dumps0 without the option $(head -c 200 "$LOGS/interval.log")"
    fi
else
    fail interval "compile: $(head -c 200 "$LOGS/interval.log")"
fi

# newfile: a dump under a name swalloc makes refuses a symbolic link and an
# existing file there (prof_newfile.c).
mkdir -p "$WORK/newfile"
if gcc -o "$BIN/newfile" "$HERE/prof_newfile.c" -L"$(dirname "$LIB")" -l:"$(basename "$LIB")" -Wl,-rpath,"$(dirname "$LIB")" 2>"$LOGS/newfile.log" \
   && out=$(SWALLOC_CONF="prof:true,prof_prefix:$WORK/newfile/p" "$BIN/newfile" "$WORK/newfile") && [ "${out#ok}" != "$out" ]; then
    pass newfile "$out"
else
    fail newfile "${out:-} $(head -c 200 "$LOGS/newfile.log")"
fi

# unwind: the cached unwinder (Control/ProfUnwind.swift) gives backtrace(3)'s
# frames on frames of every kind (unwind_check.c, built with gcc and with
# clang and linked with the Embedded objects of the library under test:
# scripts/build-lib.sh leaves them in .build/embedded, or
# .build/embedded-debug for --debug).
ROOT=$(cd "$HERE/../.." && pwd)
OBJ=$ROOT/.build/embedded
case "$(readlink -f "$LIB")" in "$(readlink -f "$ROOT/.build/debug-lib")"/*) OBJ=$ROOT/.build/embedded-debug ;; esac
for cc in gcc clang; do
    command -v $cc >/dev/null || continue
    if $cc -std=gnu11 -O2 -g -pthread -Wall -Wno-unknown-attributes -I"$ROOT/Sources/CSwallocPlatform/include" \
           -o "$BIN/unwind_check_$cc" "$HERE/unwind_check.c" "$OBJ/swalloc-swift.o" "$OBJ/platform.o" \
           -Wl,--gc-sections -ldl >"$LOGS/unwind_$cc.log" 2>&1 \
       && out=$(timeout 60 "$BIN/unwind_check_$cc" 2>&1) && [ "${out#ok}" != "$out" ]; then
        pass "unwind-$cc" "($out)"
    else
        fail "unwind-$cc" "$(echo "${out:-}" | head -n 12 | tr '\n' ' ' | cut -c1-400) $(head -c 200 "$LOGS/unwind_$cc.log")"
    fi
done

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]

#!/usr/bin/env bash
# bind_work.sh DIR - the real-programs suite's BIND workload. Debian's BIND 9
# libraries are linked with jemalloc and allocate through its extended API
# (libisc: mallocx, sdallocx, sallocx, rallocx, mallctl); under LD_PRELOAD
# every one of them is swalloc's. named-checkzone loads a generated zone of
# 100,000 records (A, AAAA, TXT of 1-200 bytes, MX) into BIND's database
# and dumps it in canonical form: the dump's digest must be the same under
# any allocator.
set -u
dir=$1
mkdir -p "$dir"
python3 - "$dir/example.zone" <<'EOF'
import random, sys
rnd = lambda r=random.Random(7): r.getrandbits(64)
with open(sys.argv[1], "w") as f:
    f.write("$TTL 3600\n@ IN SOA ns1.example.test. hostmaster.example.test. 1 7200 900 1209600 300\n")
    f.write("@ IN NS ns1.example.test.\nns1 IN A 192.0.2.1\n")
    for i in range(60000):
        f.write("h%d IN A 10.%d.%d.%d\n" % (i, i >> 16 & 255, i >> 8 & 255, i & 255))
        if i % 3 == 0:
            f.write("h%d IN AAAA 2001:db8::%x\n" % (i, i))
        if i % 5 == 0:
            f.write('h%d IN TXT "%s"\n' % (i, "x" * (1 + rnd() % 200)))
        if i % 7 == 0:
            f.write("m%d IN MX %d h%d.example.test.\n" % (i, i % 50, (i * 7) % 60000))
EOF
named-checkzone -q -D -o "$dir/dump.zone" example.test "$dir/example.zone"
echo "named-checkzone exit: $?"
echo "dump: $(wc -l <"$dir/dump.zone") lines, $(md5sum <"$dir/dump.zone" | cut -d' ' -f1)"

# python_inline.py - the real-programs suite's python3 workload: dicts, lists,
# sorting, unicode strings, json, regular expressions, bytearrays, collections
# and big temporary objects; prints one deterministic hash (run with
# PYTHONMALLOC=malloc so every object goes through malloc).
import hashlib, json, re, collections, itertools, random
rnd = random.Random(12345)
h = hashlib.sha256()
# dicts of many sizes, inserts and deletes
d = {}
for i in range(200000):
    d[("k%d" % (i * 7919 % 100003)) * (1 + i % 5)] = [i] * (i % 17)
    if i % 3 == 0:
        d.pop(("k%d" % (i * 31 % 100003)), None)
h.update(str(len(d)).encode()); h.update(str(sum(len(v) for v in d.values())).encode())
# lists and sorting
lst = [rnd.random() for _ in range(300000)]
lst.sort()
h.update(repr(lst[::1000]).encode())
# strings: join/split/replace, unicode
s = "".join(chr(0x20 + (i * 37) % 0x2000) for i in range(200000))
parts = s.split("a")
s2 = "\u00e9".join(parts).replace("b", "\U0001F600")
h.update(s2.encode("utf-8", "surrogatepass"))
# json round trips
obj = {"n": list(range(1000)), "s": [str(i) * (i % 50) for i in range(2000)],
       "d": {str(i): {"x": i, "y": [i] * (i % 9)} for i in range(3000)}}
for _ in range(20):
    obj = json.loads(json.dumps(obj, sort_keys=True))
h.update(json.dumps(obj, sort_keys=True).encode())
# regular expressions
text = " ".join("word%d-%s" % (i, "x" * (i % 13)) for i in range(50000))
m = re.findall(r"word(\d+)-(x{5,})", text)
h.update(repr(m[::100]).encode())
h.update(re.sub(r"(\d+)", lambda mo: mo.group(1)[::-1], text[:200000]).encode())
# bytes / bytearray growth
ba = bytearray()
for i in range(100000):
    ba += bytes([i & 0xFF]) * (i % 7)
h.update(hashlib.md5(ba).digest())
# collections
c = collections.Counter(itertools.islice(itertools.cycle("abcdefghij"), 500000))
dq = collections.deque(range(100000))
dq.rotate(12345)
h.update(repr(sorted(c.items())).encode()); h.update(repr(list(itertools.islice(dq, 10))).encode())
# big temporary objects
for k in range(30):
    big = bytes(1 << 20) * (1 + k % 4)
    h.update(str(len(big)).encode())
print("python inline", h.hexdigest())

# python_threads.py - the real-programs suite's threaded python3 workload: 8
# threads build and drop objects, 8 more pass strings through a shared list;
# prints one deterministic hash.
import threading, hashlib, json
results = [None] * 8
def work(t):
    h = hashlib.sha256()
    objs = []
    for i in range(40000):
        o = {"t": t, "i": i, "s": "x" * ((i * (t + 1)) % 300), "l": list(range(i % 40))}
        objs.append(o)
        if len(objs) > 2000:
            # hand objects between threads' lifetimes: drop the oldest half
            del objs[:1000]
        if i % 5000 == 0:
            h.update(json.dumps(objs[-50:], sort_keys=True).encode())
    h.update(str(sum(len(o["s"]) for o in objs)).encode())
    results[t] = h.hexdigest()
shared = []
lock = threading.Lock()
def producer_consumer(t):
    for i in range(20000):
        with lock:
            if t % 2 == 0:
                shared.append(("p%d" % t) * (i % 20) + str(i))
            elif shared:
                shared.pop(0 if i % 2 else -1)
threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
threads += [threading.Thread(target=producer_consumer, args=(t,)) for t in range(8)]
for th in threads: th.start()
for th in threads: th.join()
print("python threads", hashlib.sha256("".join(results).encode()).hexdigest())

// Real-program allocator workload: Node.js (Debian's node 20) churning JSON,
// Buffers and strings. V8 keeps JS objects and strings in its own garbage-
// collected heap, so what reaches malloc is what node and V8 allocate outside
// it: ArrayBuffer backing stores (Buffer.alloc -> calloc, allocUnsafeSlow and
// large concat -> malloc), the serializer's buffers of postMessage (realloc),
// the JSON parser's and the compiler's zones, string flattening scratch.
//
//   node node-churn.js churn   [SCALE]   one thread
//   node node-churn.js workers [SCALE] [WORKERS]   main + WORKERS worker_threads
//
// The work is fixed (seeded xorshift, no Math.random) and the last line is a
// checksum that depends on neither addresses nor scheduling:
//   CHECK node-churn mode=churn rounds=... sum=...
// SCALE 1.0 takes about 2-4 s under glibc on one core of this machine.
'use strict';
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');

function xorshift(seed) {
  let s = (seed >>> 0) || 0x9e3779b9;
  return function next() {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf',
  'hotel', 'india', 'juliet', 'kilo', 'lima', 'mike', 'november', 'oscar',
  'papa', 'quebec', 'romeo', 'sierra', 'tango', 'uniform', 'victor'];

// 32-bit FNV-1a over a Buffer, to fold results into the checksum.
function fnv(buf, h) {
  h = h >>> 0;
  for (let i = 0; i < buf.length; i += 7) { h ^= buf[i]; h = Math.imul(h, 16777619) >>> 0; }
  return (h ^ buf.length) >>> 0;
}

function makeRecord(rnd, i) {
  const n = rnd() % 6;
  const tags = [];
  for (let k = 0; k <= n; k++) tags.push(WORDS[rnd() % WORDS.length]);
  return {
    id: i,
    name: WORDS[rnd() % WORDS.length] + '-' + (rnd() % 100000).toString(36),
    score: (rnd() % 1000000) / 1000,
    active: (rnd() & 1) === 1,
    tags,
    nested: { a: rnd() % 1000, b: [rnd() % 10, rnd() % 100, rnd() % 1000], c: 'x'.repeat(rnd() % 48) },
  };
}

// One round: build records, JSON round trip, Buffers of random sizes
// allocated, filled, concatenated and dropped, string work. Returns a 32-bit
// checksum of what it produced. `live` is a ring of Buffers kept across
// rounds so that frees do not come in allocation order.
function round(rnd, live, nrec) {
  let h = 2166136261;
  const recs = new Array(nrec);
  for (let i = 0; i < nrec; i++) recs[i] = makeRecord(rnd, i);
  const json = JSON.stringify(recs);
  const back = JSON.parse(json);
  let acc = 0;
  for (const r of back) acc = (acc + r.id + r.tags.length + r.nested.b[2]) >>> 0;
  h = (h ^ acc ^ json.length) >>> 0;

  // The JSON as bytes, cut into pieces, base64 round trip of one piece.
  const bytes = Buffer.from(json, 'utf8');
  const pieces = [];
  for (let off = 0; off < bytes.length;) {
    const len = 64 + (rnd() % 8192);
    pieces.push(bytes.subarray(off, off + len));
    off += len;
  }
  const joined = Buffer.concat(pieces);
  h = fnv(joined, h);
  const b64 = pieces[rnd() % pieces.length].toString('base64');
  h = fnv(Buffer.from(b64, 'base64'), h);

  // Standalone ArrayBuffers of 16 B .. 64 KiB (log-uniform): zeroed
  // (Buffer.alloc -> calloc) and unzeroed (allocUnsafeSlow -> malloc), half
  // dropped at once, half replacing a random slot of the live ring.
  const bufs = [];
  for (let k = 0; k < 48; k++) {
    const size = 16 << (rnd() % 13);
    const sz = size + (rnd() % size);
    const b = (k & 1) ? Buffer.alloc(sz) : Buffer.allocUnsafeSlow(sz);
    b.fill(k & 0xff);
    b.writeUInt32LE(rnd(), 0);
    bufs.push(b);
  }
  const big = Buffer.concat(bufs.slice(0, 8));
  h = fnv(big, h);
  for (let k = 0; k < bufs.length; k += 2) live[rnd() % live.length] = bufs[k];

  // Strings: split, map, join, replace, and a Map keyed by strings.
  const parts = json.slice(0, 65536).split(',');
  const m = new Map();
  for (const p of parts) {
    const key = p.length > 12 ? p.slice(0, 12) : p;
    m.set(key, (m.get(key) || 0) + 1);
  }
  const s = parts.map((p) => p.toUpperCase()).join(';').replace(/ALPHA|BRAVO/g, 'z');
  h = (h ^ m.size ^ s.length) >>> 0;
  return h >>> 0;
}

function churnMain(scale) {
  const rounds = Math.max(1, Math.round(120 * scale));
  const rnd = xorshift(12345);
  const live = new Array(256).fill(null);
  let sum = 0;
  for (let r = 0; r < rounds; r++) sum = (Math.imul(sum, 31) + round(rnd, live, 3000)) >>> 0;
  let liveBytes = 0;
  for (const b of live) if (b) liveBytes += b.length;
  console.log(`CHECK node-churn mode=churn rounds=${rounds} sum=${sum} live=${liveBytes}`);
}

// Worker: answers each job message with the result of a round plus a Buffer
// and a JSON-shaped object (both cloned by postMessage: serializer buffers
// malloc'd/realloc'd on one thread, freed on another).
function workerMain() {
  const rnd = xorshift(workerData.seed);
  const live = new Array(64).fill(null);
  parentPort.on('message', (job) => {
    if (job.stop) { parentPort.close(); return; }
    let h = 0;
    for (const r of job.records) h = (h + r.id + r.tags.length) >>> 0;
    h = (h ^ round(rnd, live, job.nrec)) >>> 0;
    const payload = Buffer.alloc(1024 + (rnd() % 32768), job.seq & 0xff);
    const records = [];
    for (let i = 0; i < 200; i++) records.push(makeRecord(rnd, i));
    parentPort.postMessage({ seq: job.seq, h, payload, records });
  });
}

function workersMain(scale, nworkers) {
  const jobsPerWorker = Math.max(1, Math.round(240 * scale / nworkers));
  const results = new Array(nworkers).fill(0);
  let running = nworkers;
  for (let w = 0; w < nworkers; w++) {
    const worker = new Worker(__filename, { workerData: { seed: 1000 + w } });
    const rnd = xorshift(777 + w); // one per worker: sends interleave by scheduling
    let sent = 0;
    const send = () => {
      const records = [];
      for (let i = 0; i < 500; i++) records.push(makeRecord(rnd, i));
      worker.postMessage({ seq: sent, nrec: 1500, records });
      sent++;
    };
    worker.on('message', (msg) => {
      // Fold in order of seq per worker: deterministic whatever the interleaving.
      let h = msg.h;
      h = fnv(msg.payload, h);
      for (const r of msg.records) h = (h + r.nested.a) >>> 0;
      results[w] = (Math.imul(results[w], 31) + h) >>> 0;
      if (sent < jobsPerWorker) send();
      else worker.postMessage({ stop: true });
    });
    worker.on('error', (e) => { console.error(e); process.exit(2); });
    worker.on('exit', () => {
      if (--running === 0) {
        let sum = 0;
        for (const r of results) sum = (Math.imul(sum, 31) + r) >>> 0;
        console.log(`CHECK node-churn mode=workers workers=${nworkers} jobs=${jobsPerWorker} sum=${sum}`);
      }
    });
    // Two jobs in flight per worker, so the main thread and the worker overlap.
    send(); send();
  }
}

if (isMainThread) {
  const mode = process.argv[2] || 'churn';
  const scale = parseFloat(process.argv[3] || '1');
  if (mode === 'churn') churnMain(scale);
  else if (mode === 'workers') workersMain(scale, parseInt(process.argv[4] || '4', 10));
  else { console.error(`usage: node node-churn.js churn|workers [SCALE] [WORKERS]`); process.exit(64); }
} else {
  workerMain();
}

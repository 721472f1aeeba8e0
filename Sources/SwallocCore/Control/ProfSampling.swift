// Heap profiling's samples: backtraces, the stack table and the samples
// attached to sampled blocks (Prof.swift has the design and the state; the
// countdowns that choose the samples are in ThreadCache/SampleClock.swift).

import CSwallocPlatform
import Synchronization

/// e^x for x <= 0 (the unbiasing factor's exp(-s / R)).
func profExp(_ x: Double) -> Double {
  if x < -700 { return 0 }
  let ln2 = 0.6931471805599453
  let k = Int((x / ln2) - 0.5)   // x <= 0: rounds to nearest
  let r = x - Double(k) * ln2
  var term = 1.0
  var sum = 1.0
  var n = 1.0
  while n < 20 {
    term *= r / n
    sum += term
    n += 1
  }
  return sum * Double(bitPattern: UInt64(1023 &+ k) << 52)
}

/// The unbiased estimate of `objects` sampled blocks totalling `bytes`.
func profUnbias(objects: UInt, bytes: UInt) -> (objects: Double, bytes: Double) {
  if objects == 0 { return (0, 0) }
  let average = Double(bytes) / Double(objects)
  let p = 1 - profExp(-average / Double(profRate))
  if p <= 0 { return (Double(objects), Double(bytes)) }
  return (Double(objects) / p, Double(bytes) / p)
}

/// Allocates and records a sampled block: `size` at `alignment` (0 or a
/// power of two), zeroed when asked. A request whose usable size is a
/// small class gets a large run of the smallest large class (its free must
/// reach the slow path). Called with the countdown already redrawn.
@inline(never)
func profAllocSampled(_ size: UInt, alignment: UInt, zero: Bool,
                      arena: UnsafeMutablePointer<Arena>? = nil) -> UnsafeMutableRawPointer? {
  let s = swalloc_tls_prof().unsafelyUnwrapped
  s.pointee.busy = 1
  defer { s.pointee.busy = 0 }
  let align = max(alignment, quantum)
  let usize = usableSizeFor(size, alignment: align)
  return profWithBacktrace { frames, captured in
    let request = usize < largeMinClass ? max(largeMinClass, align) : size
    // The block's own allocation passes allocateAligned's countdown step:
    // it must not count (a fresh draw shortened by 16 KiB would sample the
    // next allocations more often).
    let countdown = s.pointee.countdown
    let block = allocateAligned(request, alignment: align, zero: zero, uncached: true, arena: arena)
    s.pointee.countdown = countdown
    guard let p = block else { return nil }
    let address = UInt(bitPattern: p)
    let record: UnsafeMutablePointer<Extent>
    let leaf = pageMapLookup(address)
    if leaf & pageMapArenaChunkTag == 0 {
      guard let r = UnsafeMutablePointer<Extent>(bitPattern: leaf) else { return p }
      record = r
    } else {
      guard let e = pageEntryExtent(pageEntry(address)) else { return p }
      record = e
    }
    profRecordBacktrace(s, frames, captured, usize: usize, record)
    return p
  }
}

/// The frames profBacktrace captures (SWALLOC_PROF_CAPTURE of them).
typealias ProfFrames = InlineArray<96, UnsafeMutableRawPointer?>

/// Captures the calling thread's backtrace into a buffer on its own stack
/// and passes it and the number of frames captured to `body`. On the stack,
/// not in a thread-local buffer: those 768 bytes were most of the
/// library's initial-exec TLS, which glibc must find in the static TLS
/// surplus it keeps for libraries loaded later, so dlopen of the library
/// failed ("cannot allocate memory in static TLS block") in a process
/// whose other libraries had used some of that surplus (the unit tests'
/// runner, once the thread counters took 16 bytes more). Sampling is rare (one
/// allocation per ~512 KiB by default), and a thread's stack has the room
/// that its malloc caller's frames leave.
@inline(__always)
func profWithBacktrace<R>(_ body: (UnsafeMutablePointer<UnsafeMutableRawPointer?>, Int) -> R) -> R {
  var frames = ProfFrames(repeating: nil)
  return withUnsafeMutablePointer(to: &frames) { p in
    let buffer = UnsafeMutableRawPointer(p).assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
    return body(buffer, profBacktrace(buffer, Int(SWALLOC_PROF_CAPTURE)))
  }
}

/// realloc resized a sampled large or huge block in place (its record
/// stays, its usable size is now `usize`). Handled as the move it saves
/// (a free and an allocation, jemalloc's prof_realloc): the old sample
/// leaves its counters, and the new size goes through the byte countdown,
/// which may sample it again (a backtrace of this realloc). Before, a
/// sampled block always moved: bench realloc-grow, whose arrays grow 8
/// bytes a call past 2 MiB, where nearly every huge block is sampled (p =
/// 1 - exp(-2 MiB / 512 KiB) = 0.98), copied 2 MiB per realloc in runs of
/// about 50 (prof:true cost it 1.14x; the copies were its whole difference).
@inline(never)
func profResizedInPlace(_ record: UnsafeMutablePointer<Extent>, usize: UInt) {
  guard let raw = record.pointee.profSample else { return }
  profUnrecord(record, raw.assumingMemoryBound(to: ProfSample.self))
  if !profActive || !profSampleNow(usize) { return }
  let s = swalloc_tls_prof().unsafelyUnwrapped
  s.pointee.busy = 1
  defer { s.pointee.busy = 0 }
  profWithBacktrace { frames, captured in profRecordBacktrace(s, frames, captured, usize: usize, record) }
}

/// Records the sample of a block whose `record` the caller has: its stack
/// (`captured` frames, ours dropped) and size, then a gdump when one is due.
/// Called with the busy flag set.
private func profRecordBacktrace(_ s: UnsafeMutablePointer<swalloc_prof_tsd>,
                                 _ frames: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ captured: Int,
                                 usize: UInt, _ record: UnsafeMutablePointer<Extent>) {
  // Our own frames (entry points, slow paths, this function) come first.
  var first = 0
  while first < captured {
    let pc = UInt(bitPattern: frames[first])
    if pc < config.profModuleLow || pc >= config.profModuleHigh { break }
    first &+= 1
  }
  let depth = min(captured &- first, profMaxFrames)
  if s.pointee.tid == 0 { s.pointee.tid = swalloc_gettid() }
  let tid = s.pointee.tid
  let (gdumpDue, intervalDue) = withLock(&profLock) {
    profRecordLocked(frames + first, depth, tid: tid, usize: usize, record)
    let gdump = profGdump && profLiveBytes > profGdumpHigh &+ (profGdumpHigh >> 3) &+ profRate
    if gdump { profGdumpHigh = profLiveBytes }
    var interval = false
    if profInterval != 0 {
      // The allocation this sample stands for, s / (1 - e^(-s/R)) for a
      // block of s bytes at rate R, within 13%: R + s/2 below 2R, s above
      // (no exp in the library). One dump however many intervals it spans.
      profIntervalBytes &+= usize >= profRate &<< 1 ? usize : profRate &+ (usize >> 1)
      if profIntervalBytes >= profInterval {
        profIntervalBytes %= profInterval
        interval = true
      }
    }
    return (gdump, interval)
  }
  if gdumpDue { _ = profDump(nil, kind: 117) }   // 'u', as jemalloc names gdumps
  if intervalDue { _ = profDump(nil, kind: 105) }   // 'i'
}

private func profHash(_ frames: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ depth: Int) -> UInt {
  var h: UInt = 0xcbf2_9ce4_8422_2325
  var i = 0
  while i < depth {
    h = (h ^ UInt(bitPattern: frames[i])) &* 0x0000_0100_0000_01b3
    h ^= h >> 29
    i &+= 1
  }
  return h
}

private func profRecordLocked(_ frames: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ depth: Int,
                              tid: UInt32, usize: UInt, _ record: UnsafeMutablePointer<Extent>) {
  if profBuckets == nil {
    guard let table = baseAlloc(UInt(profBucketCount &* 8), alignment: 64) else { return }
    profBuckets = table.bindMemory(to: UnsafeMutablePointer<ProfStack>?.self, capacity: profBucketCount)
  }
  let buckets = profBuckets.unsafelyUnwrapped
  let hash = profHash(frames, depth)
  let slot = buckets + Int(hash & UInt(profBucketCount &- 1))
  var stack = slot.pointee
  while let candidate = stack {
    if candidate.pointee.hash == hash && candidate.pointee.depth == depth
       && memcmp(candidate.frames, frames, depth &* 8) == 0 { break }
    stack = candidate.pointee.chain
  }
  if stack == nil {
    guard let raw = baseAlloc(UInt(MemoryLayout<ProfStack>.stride &+ depth &* 8), alignment: 16) else { return }
    let fresh = raw.bindMemory(to: ProfStack.self, capacity: 1)
    fresh.initialize(to: ProfStack())
    fresh.pointee.hash = hash
    fresh.pointee.depth = depth
    if depth > 0 { memcpy(fresh.frames, frames, depth &* 8) }
    fresh.pointee.chain = slot.pointee
    slot.pointee = fresh
    fresh.pointee.nextAll = profAllStacks
    profAllStacks = fresh
    stack = fresh
  }
  let st = stack.unsafelyUnwrapped
  var counters = st.pointee.threads
  while let c = counters, c.pointee.tid != tid { counters = c.pointee.next }
  if counters == nil {
    guard let raw = baseAlloc(UInt(MemoryLayout<ProfCounters>.stride), alignment: 16) else { return }
    let fresh = raw.bindMemory(to: ProfCounters.self, capacity: 1)
    fresh.initialize(to: ProfCounters())
    fresh.pointee.tid = tid
    fresh.pointee.stack = st
    fresh.pointee.next = st.pointee.threads
    st.pointee.threads = fresh
    counters = fresh
  }
  var sample = profFreeSamples
  if let reused = sample {
    profFreeSamples = reused.pointee.nextFree
  } else {
    guard let raw = baseAlloc(UInt(MemoryLayout<ProfSample>.stride), alignment: 16) else { return }
    sample = raw.bindMemory(to: ProfSample.self, capacity: 1)
  }
  let c = counters.unsafelyUnwrapped
  sample.unsafelyUnwrapped.initialize(to: ProfSample(counters: c, nextFree: nil, size: usize, generation: profGeneration))
  c.pointee.liveObjects &+= 1; c.pointee.liveBytes &+= usize
  c.pointee.totalObjects &+= 1; c.pointee.totalBytes &+= usize
  st.pointee.liveObjects &+= 1; st.pointee.liveBytes &+= usize
  st.pointee.totalObjects &+= 1; st.pointee.totalBytes &+= usize
  profLiveObjects &+= 1; profLiveBytes &+= usize
  profTotalObjects &+= 1; profTotalBytes &+= usize
  profEverSampled.store(1, ordering: .relaxed)
  record.pointee.profSample = UnsafeMutableRawPointer(sample)
}

/// 1 once a large run or huge block has been sampled: until then no
/// record is, and a large free into a thread cache needs no look at the
/// run's record for a sample to leave (freeLargeToCache). (The thread
/// that frees a sampled block got it, through the program, from the one
/// that sampled it, after this store.)
let profEverSampled = Atomic<UInt8>(0)

/// Every free path, once it knows the block: a sampled block leaves its
/// counters.
@inline(__always)
func profOnFree(_ allocation: Allocation) {
  switch allocation {
  case .large(_, let e, _), .huge(let e):
    if let raw = e.pointee.profSample { profUnrecord(e, raw.assumingMemoryBound(to: ProfSample.self)) }
  case .small:
    break
  }
}

@inline(never)
func profUnrecord(_ record: UnsafeMutablePointer<Extent>, _ sample: UnsafeMutablePointer<ProfSample>) {
  withLock(&profLock) {
    record.pointee.profSample = nil
    if sample.pointee.generation == profGeneration, let c = sample.pointee.counters {
      let size = sample.pointee.size
      c.pointee.liveObjects &-= 1; c.pointee.liveBytes &-= size
      if let st = c.pointee.stack { st.pointee.liveObjects &-= 1; st.pointee.liveBytes &-= size }
      profLiveObjects &-= 1; profLiveBytes &-= size
    }
    sample.pointee.counters = nil
    sample.pointee.nextFree = profFreeSamples
    profFreeSamples = sample
  }
}

/// The sized-free rule for a promoted block: the request's small class.
func profSampledClass(_ record: UnsafeMutablePointer<Extent>) -> Int? {
  guard let sample = record.pointee.profSample?.assumingMemoryBound(to: ProfSample.self) else { return nil }
  let size = sample.pointee.size
  if size == 0 || size > largeMaxClass { return nil }
  return classIndexFor(size)
}

/// prof.reset: forgets every count (blocks sampled before stay allocated
/// and are no longer counted); optionally a new lg_prof_sample.
func profReset(lgSample: UInt?) {
  withLock(&profDumpLock) {
    withLock(&profLock) {
      profGeneration &+= 1
      var stack = profAllStacks
      while let st = stack {
        st.pointee.liveObjects = 0; st.pointee.liveBytes = 0
        st.pointee.totalObjects = 0; st.pointee.totalBytes = 0
        var c = st.pointee.threads
        while let t = c {
          t.pointee.liveObjects = 0; t.pointee.liveBytes = 0
          t.pointee.totalObjects = 0; t.pointee.totalBytes = 0
          c = t.pointee.next
        }
        stack = st.pointee.nextAll
      }
      profLiveObjects = 0; profLiveBytes = 0; profTotalObjects = 0; profTotalBytes = 0
      profGdumpHigh = 0
      if let lg = lgSample {
        profLgRate = lg
        profRate = UInt(1) << lg
      }
    }
  }
}

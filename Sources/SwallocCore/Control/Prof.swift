// Heap profiling (jemalloc's prof): with `prof:true`, one allocation in
// about every 2^lg_prof_sample bytes is sampled; a sample records the
// block's usable size, the thread and up to 64 return addresses, so that a
// dump (jemalloc's heap_v2 text, read by jeprof / pprof) or the leak report
// at exit can estimate, per allocation site, the live bytes and blocks.
//
// Cost when off: nothing on the fast paths. The malloc fast path compares
// the size with `mallocFastMax` and calloc / posix_memalign / aligned_alloc /
// memalign with `alignedFastMax` (loads of globals that replace the
// constants they compared with before, same instruction count); with
// profiling active both are 0, so every allocation takes its slow path,
// whose first step here is one subtraction and branch on the thread's
// countdown, then the thread-cache pop the fast path would have done. Frees
// keep their fast path: a sampled block is always a large run or a huge
// mapping (a sampled small request is served by a 16 KiB run, jemalloc's
// "promotion"), whose frees all take the slow path, where the Extent record
// (out of band, never in program-writable memory) points at its sample.
//
// Sampling: the countdown is drawn from an exponential distribution of mean
// R = 2^lg_prof_sample bytes (-ln(u) R, u uniform in (0, 1], a per-thread
// xorshift generator) and decremented by each allocation's usable size s;
// the allocation that takes it to 0 or below is sampled and a new
// countdown is drawn. The distribution is memoryless, so an allocation of
// s bytes is sampled with probability 1 - exp(-s / R) whatever came before;
// a site's n sampled blocks of s bytes stand for n / (1 - exp(-s / R))
// blocks (jeprof and pprof unbias the same way from the file's R).
//
// Backtraces: glibc's backtrace(3), i.e. libgcc's DWARF unwinder (.eh_frame),
// which walks code built without frame pointers (Debian's python3, libc); a
// frame-pointer walk would stop or go wrong at the first such frame.
// backtrace(3) loads libgcc_s (dlopen: it allocates) on its first call, so
// it is primed from the library constructor, and a per-thread busy flag
// serves any allocation made while the profiler runs (the unwinder's, the
// dlopen's) unsampled. Leading frames inside this library are dropped.
// Nothing here calls malloc: stacks, counters and samples live in base
// memory, dumps are written through a base-memory buffer with write(2).

import CSwallocPlatform

// MARK: Options and state

// The options (prof, prof_active, lg_prof_sample, prof_final, prof_gdump,
// prof_leak, prof_prefix) are read by Options.swift.

/// The size limits of the fast paths: 0 while profiling is active, which
/// sends every allocation to its slow path (see above).
nonisolated(unsafe) var mallocFastMax: UInt = lookupMaxSize
nonisolated(unsafe) var alignedFastMax: UInt = largeMaxClass
/// Large frees skip freeSlow's shortcut into the thread cache and take the
/// full path (secure:true checks them there; with prof:true a sampled run
/// leaves its counters there).
nonisolated(unsafe) var largeFreeChecked = false
/// Profiling is on and active: the slow paths count and sample.
nonisolated(unsafe) var profRouting = false
nonisolated(unsafe) var profActive = false
nonisolated(unsafe) var profGdump = false
/// The sample period R in bytes (2^lg_prof_sample).
nonisolated(unsafe) var profRate: UInt = 1 << 19
nonisolated(unsafe) var profLgRate: UInt = 19
/// backtrace(3) has been called once (its dlopen is done).
nonisolated(unsafe) var profPrimed = false
/// This module's executable segment: frames inside it are dropped.
nonisolated(unsafe) var profModuleLow: UInt = 0
nonisolated(unsafe) var profModuleHigh: UInt = 0

/// Guards the tables below. Never held while allocating a block or taking
/// an arena lock; base memory (baseLock) is taken inside it.
nonisolated(unsafe) var profLock = Mutex()
/// Serializes dumps (taken before profLock).
nonisolated(unsafe) var profDumpLock = Mutex()
nonisolated(unsafe) var profDumpSequence: UInt = 0

let profMaxFrames = Int(SWALLOC_PROF_MAX_FRAMES)
let profBucketCount = 1 << 14

/// Per stack and thread: the counters of the `t<tid>:` lines.
struct ProfCounters {
  var next: UnsafeMutablePointer<ProfCounters>? = nil
  var tid: UInt32 = 0
  var liveObjects: UInt = 0
  var liveBytes: UInt = 0
  var totalObjects: UInt = 0
  var totalBytes: UInt = 0
  var stack: UnsafeMutablePointer<ProfStack>? = nil
}

/// One distinct backtrace; its `depth` frames follow the record.
struct ProfStack {
  var chain: UnsafeMutablePointer<ProfStack>? = nil
  var nextAll: UnsafeMutablePointer<ProfStack>? = nil
  var threads: UnsafeMutablePointer<ProfCounters>? = nil
  var hash: UInt = 0
  var depth: Int = 0
  var liveObjects: UInt = 0
  var liveBytes: UInt = 0
  var totalObjects: UInt = 0
  var totalBytes: UInt = 0
}

extension UnsafeMutablePointer where Pointee == ProfStack {
  var frames: UnsafeMutablePointer<UInt> {
    (UnsafeMutableRawPointer(self) + MemoryLayout<ProfStack>.stride).assumingMemoryBound(to: UInt.self)
  }
}

/// A live sampled block (Extent.profSample points here).
struct ProfSample {
  var counters: UnsafeMutablePointer<ProfCounters>? = nil
  var nextFree: UnsafeMutablePointer<ProfSample>? = nil
  /// The usable size the request had (a small class for a promoted block).
  var size: UInt = 0
  /// prof.reset count when sampled: older samples no longer count.
  var generation: UInt = 0
}

nonisolated(unsafe) var profBuckets: UnsafeMutablePointer<UnsafeMutablePointer<ProfStack>?>? = nil
nonisolated(unsafe) var profAllStacks: UnsafeMutablePointer<ProfStack>? = nil
nonisolated(unsafe) var profFreeSamples: UnsafeMutablePointer<ProfSample>? = nil
nonisolated(unsafe) var profGeneration: UInt = 0
nonisolated(unsafe) var profLiveObjects: UInt = 0
nonisolated(unsafe) var profLiveBytes: UInt = 0
nonisolated(unsafe) var profTotalObjects: UInt = 0
nonisolated(unsafe) var profTotalBytes: UInt = 0
/// prof_gdump: the live sampled bytes at the last gdump.
nonisolated(unsafe) var profGdumpHigh: UInt = 0

// MARK: Boot

/// Called at boot after the options: sets the rate and the routing.
func profBoot() {
  profLgRate = optLgProfSample
  profRate = UInt(1) << optLgProfSample
  if !optProf { return }
  profGdump = optProfGdump
  // Set for good: blocks sampled while active stay sampled after prof.active
  // turns profiling off.
  largeFreeChecked = true
  if let header = swalloc_module_header() { profFindModuleText(header) }
  profSetActive(optProfActive)
}

/// prof.active: routes the fast paths to the slow ones, or back.
func profSetActive(_ active: Bool) {
  profActive = active
  profRouting = active
  mallocFastMax = active ? 0 : lookupMaxSize
  alignedFastMax = active ? 0 : largeMaxClass
}

/// From the library constructor: the first backtrace(3) loads libgcc_s
/// (and allocates, unsampled: the busy flag is set).
func profPrime() {
  if !optProf || profPrimed { return }
  let s = swalloc_tls_prof()!
  s.pointee.busy = 1
  _ = swalloc_backtrace(swalloc_tls_prof_frames(), 4)
  s.pointee.busy = 0
  profPrimed = true
}

/// The executable PT_LOAD segment of the ELF image at `header` (this
/// library's own image, mapped read-only by the loader).
private func profFindModuleText(_ header: UnsafeRawPointer) {
  if header.load(as: UInt32.self) != 0x464c_457f { return }   // "\x7fELF"
  let base = UInt(bitPattern: header)
  let phoff = Int(header.load(fromByteOffset: 32, as: UInt64.self))
  let phentsize = Int(header.load(fromByteOffset: 54, as: UInt16.self))
  let phnum = Int(header.load(fromByteOffset: 56, as: UInt16.self))
  var i = 0
  while i < phnum {
    let ph = header + (phoff &+ i &* phentsize)
    let type = ph.load(as: UInt32.self)
    let flags = ph.load(fromByteOffset: 4, as: UInt32.self)
    if type == 1 && flags & 1 != 0 {   // PT_LOAD, PF_X
      let vaddr = UInt(ph.load(fromByteOffset: 16, as: UInt64.self))
      let memsz = UInt(ph.load(fromByteOffset: 40, as: UInt64.self))
      // A shared object's first segment is at 0: the header is its base.
      profModuleLow = base &+ vaddr
      profModuleHigh = base &+ vaddr &+ memsz
      return
    }
    i &+= 1
  }
}

// MARK: Sampling

/// The slow-path step of every allocation while profiling is active:
/// whether this one, of usable size `usize`, is sampled.
@inline(__always)
func profSampleNow(_ usize: UInt) -> Bool {
  let s = swalloc_tls_prof().unsafelyUnwrapped
  s.pointee.countdown &-= Int64(bitPattern: UInt64(usize))
  if s.pointee.countdown > 0 { return false }
  return profCountdownExpired(s, usize)
}

@inline(never)
func profCountdownExpired(_ s: UnsafeMutablePointer<swalloc_prof_tsd>, _ usize: UInt) -> Bool {
  if s.pointee.busy != 0 {
    // The profiler's own allocations: not counted, not sampled.
    s.pointee.countdown &+= Int64(bitPattern: UInt64(usize))
    return false
  }
  if s.pointee.prng == 0 {
    // The thread's first allocation: seed, draw, count this one against it.
    var seed = UInt64(UInt(bitPattern: s)) &* 0x9E37_79B9_7F4A_7C15
    seed ^= UInt64(remoteLinkSecret) ^ (UInt64(swalloc_monotonic_ms()) << 20)
    s.pointee.prng = seed | 1
    s.pointee.countdown = profDrawCountdown(s) &- Int64(bitPattern: UInt64(usize))
    if s.pointee.countdown > 0 { return false }
  }
  s.pointee.countdown = profDrawCountdown(s)
  return profPrimed
}

/// -ln(u) R for u uniform in (0, 1]: bytes until the next sample.
func profDrawCountdown(_ s: UnsafeMutablePointer<swalloc_prof_tsd>) -> Int64 {
  var x = s.pointee.prng
  x ^= x >> 12
  x ^= x << 25
  x ^= x >> 27
  s.pointee.prng = x
  let r = x &* 0x2545_F491_4F6C_DD1D
  let u = Double((r >> 11) &+ 1) * (1.0 / 9007199254740992.0)
  let bytes = -profLog(u) * Double(profRate)
  return Int64(bytes) &+ 1
}

/// Natural logarithm of a positive finite double (no libm: the library
/// links libc only).
func profLog(_ x: Double) -> Double {
  let bits = x.bitPattern
  var e = Int((bits >> 52) & 0x7ff) &- 1023
  var m = Double(bitPattern: (bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000)
  if m > 1.4142135623730951 { m *= 0.5; e &+= 1 }
  // ln m = 2 atanh(t), t = (m - 1) / (m + 1), |t| <= 0.172
  let t = (m - 1) / (m + 1)
  let t2 = t * t
  var term = t
  var sum = 0.0
  var k = 1.0
  while k < 40 {
    sum += term / k
    term *= t2
    k += 2
  }
  return Double(e) * 0.6931471805599453 + 2 * sum
}

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
  let frames = swalloc_tls_prof_frames().unsafelyUnwrapped
  let captured = Int(swalloc_backtrace(frames, SWALLOC_PROF_CAPTURE))
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
  // Our own frames (entry points, slow paths, this function) come first.
  var first = 0
  while first < captured {
    let pc = UInt(bitPattern: frames[first])
    if pc < profModuleLow || pc >= profModuleHigh { break }
    first &+= 1
  }
  let depth = min(captured &- first, profMaxFrames)
  if s.pointee.tid == 0 { s.pointee.tid = swalloc_gettid() }
  let tid = s.pointee.tid
  mutexLock(&profLock)
  profRecordLocked(frames + first, depth, tid: tid, usize: usize, record)
  let gdumpDue = profGdump && profLiveBytes > profGdumpHigh &+ (profGdumpHigh >> 3) &+ profRate
  if gdumpDue { profGdumpHigh = profLiveBytes }
  mutexUnlock(&profLock)
  if gdumpDue { _ = profDump(nil, kind: 117) }   // 'u', as jemalloc names gdumps
  return p
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
  record.pointee.profSample = UnsafeMutableRawPointer(sample)
}

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
  mutexLock(&profLock)
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
  mutexUnlock(&profLock)
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
  mutexLock(&profDumpLock)
  mutexLock(&profLock)
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
  mutexUnlock(&profLock)
  mutexUnlock(&profDumpLock)
}

// MARK: Dumps

/// A buffered writer to a descriptor (base memory, under profDumpLock).
private nonisolated(unsafe) var profOutBuffer: UnsafeMutablePointer<UInt8>? = nil
private nonisolated(unsafe) var profOutUsed = 0
private nonisolated(unsafe) var profOutFd: Int32 = -1
private let profOutCapacity = 1 << 16

private func outFlush() {
  guard let b = profOutBuffer else { return }
  var done = 0
  while done < profOutUsed {
    let n = write(profOutFd, b + done, profOutUsed &- done)
    if n <= 0 { break }
    done &+= n
  }
  profOutUsed = 0
}

private func outByte(_ c: UInt8) {
  if profOutUsed == profOutCapacity { outFlush() }
  profOutBuffer.unsafelyUnwrapped[profOutUsed] = c
  profOutUsed &+= 1
}

private func out(_ s: StaticString) {
  var i = 0
  while i < s.utf8CodeUnitCount { outByte(s.utf8Start[i]); i &+= 1 }
}

private func outC(_ s: UnsafePointer<CChar>) {
  var i = 0
  while s[i] != 0 { outByte(UInt8(bitPattern: s[i])); i &+= 1 }
}

private func outDecimal(_ n: UInt) {
  var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)   // 24 bytes of room
  var count = 0
  var v = n
  withUnsafeMutableBytes(of: &digits) { d in
    repeat {
      d[count] = UInt8(48 &+ v % 10)
      v /= 10
      count &+= 1
    } while v != 0
    while count > 0 { count &-= 1; outByte(d[count]) }
  }
}

private func outHex(_ n: UInt) {
  out("0x")
  var shift = 60
  var started = false
  while shift >= 0 {
    let digit = UInt8((n >> UInt(shift)) & 15)
    if digit != 0 || started || shift == 0 {
      started = true
      outByte(digit < 10 ? 48 &+ digit : 87 &+ digit)
    }
    shift &-= 4
  }
}

private func outCounts(_ objects: UInt, _ bytes: UInt, _ totalObjects: UInt, _ totalBytes: UInt) {
  outDecimal(objects); out(": "); outDecimal(bytes)
  out(" ["); outDecimal(totalObjects); out(": "); outDecimal(totalBytes); out("]\n")
}

/// Writes a heap_v2 profile to `path`, or to PREFIX.PID.SEQ.heap when nil;
/// `kind` is unused in the name (kept for the caller's intent). Returns
/// false when profiling is off or the file cannot be written.
@discardableResult
func profDump(_ path: UnsafePointer<CChar>?, kind: UInt8) -> Bool {
  if !optProf { return false }
  let s = swalloc_tls_prof().unsafelyUnwrapped
  let wasBusy = s.pointee.busy
  s.pointee.busy = 1
  defer { s.pointee.busy = wasBusy }
  mutexLock(&profDumpLock)
  defer { mutexUnlock(&profDumpLock) }
  if profOutBuffer == nil {
    guard let b = baseAlloc(UInt(profOutCapacity) &+ 4096, alignment: 64) else { return false }
    profOutBuffer = b.bindMemory(to: UInt8.self, capacity: profOutCapacity &+ 4096)
  }
  let nameBuffer = UnsafeMutableRawPointer(profOutBuffer.unsafelyUnwrapped + profOutCapacity).assumingMemoryBound(to: CChar.self)
  var fd: Int32
  if let path {
    fd = swalloc_open_write(path)
  } else {
    // PREFIX.PID.SEQ.heap, built in the spare page after the buffer.
    profOutUsed = 0
    outC(profPrefix.map { UnsafePointer($0) } ?? UnsafePointer(swallocDefaultPrefix()))
    out("."); outDecimal(UInt(getpid())); out(".")
    outDecimal(profDumpSequence)
    out(".heap")
    profDumpSequence &+= 1
    let n = min(profOutUsed, 4095)
    memcpy(nameBuffer, profOutBuffer.unsafelyUnwrapped, n)
    nameBuffer[n] = 0
    profOutUsed = 0
    fd = swalloc_open_write(nameBuffer)
  }
  if fd < 0 { return false }
  profOutFd = fd
  profOutUsed = 0
  mutexLock(&profLock)
  out("heap_v2/"); outDecimal(profRate); out("\n")
  out("  t*: "); outCounts(profLiveObjects, profLiveBytes, profTotalObjects, profTotalBytes)
  var stack = profAllStacks
  while let st = stack {
    if st.pointee.totalObjects != 0 {
      out("@")
      var i = 0
      while i < st.pointee.depth { out(" "); outHex(st.frames[i]); i &+= 1 }
      out("\n  t*: ")
      outCounts(st.pointee.liveObjects, st.pointee.liveBytes, st.pointee.totalObjects, st.pointee.totalBytes)
      var c = st.pointee.threads
      while let t = c {
        if t.pointee.totalObjects != 0 {
          out("  t"); outDecimal(UInt(t.pointee.tid)); out(": ")
          outCounts(t.pointee.liveObjects, t.pointee.liveBytes, t.pointee.totalObjects, t.pointee.totalBytes)
        }
        c = t.pointee.next
      }
    }
    stack = st.pointee.nextAll
  }
  mutexUnlock(&profLock)
  out("\nMAPPED_LIBRARIES:\n")
  outFlush()
  let maps = swalloc_open_read("/proc/self/maps")
  if maps >= 0 {
    let b = profOutBuffer.unsafelyUnwrapped
    while true {
      let n = read(maps, b, profOutCapacity)
      if n <= 0 { break }
      profOutUsed = n
      outFlush()
    }
    close(maps)
  }
  close(fd)
  profOutFd = -1
  return true
}

private func swallocDefaultPrefix() -> UnsafePointer<CChar> {
  UnsafeRawPointer(("swalloc" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)
}

// MARK: Exit: prof_final, prof_leak

func profAtExit() {
  if !optProf { return }
  if optProfFinal { profDump(nil, kind: 102) }   // 'f'
  if optProfLeak { profLeakReport() }
}

/// prof_leak: the 20 sites with the most estimated live bytes, on stderr,
/// with symbol names where dladdr finds them (read after profLock is
/// released: dladdr takes the loader's lock).
private func profLeakReport() {
  let top = 20
  guard let slots = baseAlloc(UInt(top &* 8), alignment: 64)?.bindMemory(to: UnsafeMutablePointer<ProfStack>?.self, capacity: top) else { return }
  var i = 0
  while i < top { slots[i] = nil; i &+= 1 }
  var sites: UInt = 0
  mutexLock(&profLock)
  var stack = profAllStacks
  while let st = stack {
    if st.pointee.liveObjects != 0 {
      sites &+= 1
      // Insertion into the sorted top list.
      var k = top &- 1
      if slots[k] == nil || slots[k].unsafelyUnwrapped.pointee.liveBytes < st.pointee.liveBytes {
        slots[k] = st
        while k > 0, slots[k &- 1] == nil || slots[k &- 1].unsafelyUnwrapped.pointee.liveBytes < st.pointee.liveBytes {
          let t = slots[k &- 1]; slots[k &- 1] = slots[k]; slots[k] = t
          k &-= 1
        }
      }
    }
    stack = st.pointee.nextAll
  }
  let liveObjects = profLiveObjects
  let liveBytes = profLiveBytes
  mutexUnlock(&profLock)
  let s = swalloc_tls_prof().unsafelyUnwrapped
  s.pointee.busy = 1
  mutexLock(&profDumpLock)
  if profOutBuffer == nil, let b = baseAlloc(UInt(profOutCapacity) &+ 4096, alignment: 64) {
    profOutBuffer = b.bindMemory(to: UInt8.self, capacity: profOutCapacity &+ 4096)
  }
  if profOutBuffer != nil {
    profOutFd = 2
    profOutUsed = 0
    let total = profUnbias(objects: liveObjects, bytes: liveBytes)
    out("swalloc: prof_leak: "); outDecimal(sites)
    out(" allocation sites still hold memory at exit, about ")
    outDecimal(UInt(total.bytes)); out(" bytes in "); outDecimal(UInt(total.objects))
    out(" blocks (estimated from "); outDecimal(liveObjects); out(" sampled blocks, rate ")
    outDecimal(profRate); out("); the largest:\n")
    i = 0
    while i < top, let st = slots[i] {
      let e = profUnbias(objects: st.pointee.liveObjects, bytes: st.pointee.liveBytes)
      out("  #"); outDecimal(UInt(i &+ 1)); out(" "); outDecimal(UInt(e.bytes)); out(" bytes in ")
      outDecimal(UInt(e.objects)); out(" blocks ("); outDecimal(st.pointee.liveObjects); out(" sampled)\n")
      var f = 0
      while f < min(st.pointee.depth, 8) {
        let pc = st.frames[f]
        out("      "); outHex(pc)
        var symbol: UnsafePointer<CChar>? = nil
        var module: UnsafePointer<CChar>? = nil
        var symbolStart: UInt = 0
        var moduleBase: UInt = 0
        // The return address minus one lies in the calling instruction.
        if let q = UnsafeRawPointer(bitPattern: pc &- 1),
           swalloc_dladdr(q, &symbol, &symbolStart, &module, &moduleBase) {
          if let symbol {
            out(" "); outC(symbol); out("+"); outHex(pc &- symbolStart)
          }
          if let module {
            out(" ("); outC(module); out("+"); outHex(pc &- moduleBase); out(")")
          }
        }
        out("\n")
        f &+= 1
      }
      i &+= 1
    }
    outFlush()
    profOutFd = -1
  }
  mutexUnlock(&profDumpLock)
  s.pointee.busy = 0
}

// MARK: Hooks

/// mallocSlow's first step while profiling is active: the countdown, then
/// the sampled path, or the thread-cache pop the fast path would have done.
/// nil: the rest of mallocSlow (a cache miss, a huge block, before boot).
@inline(__always)
func profMalloc(_ size: UInt) -> UnsafeMutableRawPointer? {
  let usize: UInt
  if size <= lookupMaxSize {
    // The fast path's pop, after the countdown: one class lookup.
    let sizeClass = Int(sizeLookupTable[Int((size &+ 15) >> 4)])
    if profSampleNow(sizeClassSize(sizeClass)) {
      if !ensureBooted() { return nil }
      return profAllocSampled(size, alignment: 0, zero: false)
    }
    guard let t = currentTcache() else { return nil }
    return tcacheBin(t, sizeClass).popCounted()
  }
  if size <= largeMaxClass {
    usize = sizeClassSize(classIndexFor(size))
  } else {
    if size > maxRequestSize { return nil }
    usize = roundUpToPage(size)
  }
  if profSampleNow(usize) {
    if !ensureBooted() { return nil }
    return profAllocSampled(size, alignment: 0, zero: false)
  }
  if size <= largeMaxClass, let p = cachedAlignedAlloc(size, alignment: quantum) { return p }
  return nil
}


// Heap profiling (jemalloc's prof): with `prof:true`, one allocation in
// about every 2^lg_prof_sample bytes is sampled; a sample records the
// block's usable size, the thread and up to 64 return addresses, so that a
// dump (jemalloc's heap_v2 text, read by jeprof / pprof) or the leak report
// at exit can estimate, per allocation site, the live bytes and blocks.
//
// Cost: nothing on the fast paths, on or off. A thread-cache hit is
// counted by its class's countdown (TcacheBin.countdown), the decrement the
// malloc fast path makes anyway to count its allocations; with prof:true it
// is drawn per class (profDrawBlocks), and the pop that takes it to 0 is
// sampled when profiling is active. Every other allocation (misses,
// uncached and huge sizes, the aligned slow paths) goes through the
// thread's byte countdown on its slow path (profSampleNow). Frees
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
// Backtraces: libgcc's DWARF unwind rules (.eh_frame), which walk code built
// without frame pointers (Debian's python3, libc); a frame-pointer walk
// would stop or go wrong at the first such frame. profBacktrace
// (ProfUnwind.swift) caches each return address's rule, so a
// sample's frames cost a table probe each instead of libgcc's FDE search
// and CFA programs; frames it does not model go to glibc's backtrace(3).
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

/// prof_gdump. Racy by design: prof.gdump stores it without a lock; a stale
/// read only delays or adds one gdump.
nonisolated(unsafe) var profGdump = false
/// Written at boot and by prof.reset (under profDumpLock and profLock);
/// prof.lg_sample reads it without a lock: one word, the old or new value.
nonisolated(unsafe) var profLgRate: UInt = 19
// This module's executable segments, whose frames are dropped, span
// config.profModuleLow/High (boot-once, profBoot).

/// Guards the tables below. Never held while allocating a block or taking
/// an arena lock; base memory (baseLock) is taken inside it.
nonisolated(unsafe) var profLock = Mutex()
/// Serializes dumps (taken before profLock).
nonisolated(unsafe) var profDumpLock = Mutex()
/// Guarded by profDumpLock.
nonisolated(unsafe) var profDumpSequence: UInt = 0

let profMaxFrames = Int(SWALLOC_PROF_MAX_FRAMES)
let profBucketCount = 1 << 14

/// Per stack and thread: the counters of the `t<tid>:` lines. Like ProfStack
/// and ProfSample records, guarded by profLock.
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

/// The tables, the sampled counts and their generation. Guarded by profLock.
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
/// lg_prof_interval: bytes of allocation between interval dumps (0: none),
/// set at boot; and the allocation the samples since the last one stand
/// for (profRecordBacktrace).
nonisolated(unsafe) var profInterval: UInt = 0
nonisolated(unsafe) var profIntervalBytes: UInt = 0

// MARK: Boot

/// Called at boot after the options: sets the rate and the routing.
func profBoot() {
  profLgRate = config.opt.lgProfSample
  profRate = UInt(1) << config.opt.lgProfSample
  if !config.opt.prof { return }
  profGdump = config.opt.profGdumpOnPeak
  if config.opt.lgProfInterval >= 0 { profInterval = UInt(1) << UInt(config.opt.lgProfInterval) }
  if let header = swalloc_module_header() { profFindModuleText(header) }
  profSetActive(config.opt.profActiveAtStart)
}

/// prof.active: the slow paths' sampling step on or off (the thread
/// caches' countdowns run whenever prof:true, and sample only while active).
func profSetActive(_ active: Bool) {
  profActive = active
}

/// Bytes of the unwinder's cache of unwind rules (ProfUnwind.swift): 4096 entries
/// of 32 bytes, one per return address seen (two-way: ProfUnwind.swift).
let profUnwindCacheBytes: UInt = 128 << 10

/// From the library constructor: the first backtrace(3) loads libgcc_s
/// (and allocates, unsampled: the busy flag is set), then the cached
/// unwinder gets its table and libgcc's FDE lookup (dlopen, dlsym).
func profPrime() {
  if !config.opt.prof || profPrimed { return }
  let s = swalloc_tls_prof()!
  s.pointee.busy = 1
  var frames: (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?,
                UnsafeMutableRawPointer?) = (nil, nil, nil, nil)
  withUnsafeMutablePointer(to: &frames) { p in
    _ = swalloc_glibc_backtrace(UnsafeMutableRawPointer(p).assumingMemoryBound(to: UnsafeMutableRawPointer?.self), 4)
  }
  if let table = baseAlloc(profUnwindCacheBytes, alignment: 64) {
    _ = unwindInit(table, Int(profUnwindCacheBytes))
  }
  s.pointee.busy = 0
  profPrimed = true
}

/// The span of the executable PT_LOAD segments of the ELF image at `header`
/// (this library's own image, mapped read-only by the loader): there are
/// three, the hot text, the rest and the warm text (scripts/build-lib.sh),
/// with read-only data between them, where no return address can point.
private func profFindModuleText(_ header: UnsafeRawPointer) {
  if header.load(as: UInt32.self) != 0x464c_457f { return }   // "\x7fELF"
  let base = UInt(bitPattern: header)
  let phoff = Int(header.load(fromByteOffset: 32, as: UInt64.self))
  let phentsize = Int(header.load(fromByteOffset: 54, as: UInt16.self))
  let phnum = Int(header.load(fromByteOffset: 56, as: UInt16.self))
  var low = UInt.max
  var high: UInt = 0
  var i = 0
  while i < phnum {
    let ph = header + (phoff &+ i &* phentsize)
    let type = ph.load(as: UInt32.self)
    let flags = ph.load(fromByteOffset: 4, as: UInt32.self)
    if type == 1 && flags & 1 != 0 {   // PT_LOAD, PF_X
      let vaddr = UInt(ph.load(fromByteOffset: 16, as: UInt64.self))
      let memsz = UInt(ph.load(fromByteOffset: 40, as: UInt64.self))
      // A shared object's first segment is at 0: the header is its base.
      low = min(low, base &+ vaddr)
      high = max(high, base &+ vaddr &+ memsz)
    }
    i &+= 1
  }
  if high != 0 {
    config.profModuleLow = low
    config.profModuleHigh = high
  }
}

// MARK: Hooks

/// mallocSlow's step while profiling is active, for an allocation no
/// thread-cache countdown counted (a cache miss, an uncached or huge
/// size): the thread's byte countdown, and the sampled path when it runs
/// out. nil: the rest of mallocSlow.
@inline(__always)
func profMalloc(_ size: UInt) -> UnsafeMutableRawPointer? {
  let usize: UInt
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
  return nil
}

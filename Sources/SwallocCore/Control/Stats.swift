// Statistics: counters kept on the slow paths (bin refills and flushes, large
// and huge operations, chunk maps), merged across arenas on read, so the
// tcache fast path pays nothing for them (the per-thread byte counters at the
// end of this file cost one increment there). `statsPrint` writes a short
// report, text or JSON, to stderr or to a malloc_stats_print callback,
// without allocating.

import Synchronization

import CSwallocPlatform

struct StatsTotals {
  var arenasInUse: UInt = 0
  var threads: UInt = 0
  var chunks: UInt = 0
  var slabs: UInt = 0
  var smallBytes: UInt = 0
  var smallRegions: UInt = 0
  var smallMallocs: UInt = 0
  var smallFrees: UInt = 0
  var refills: UInt = 0
  var largeBytes: UInt = 0
  var largeCount: UInt = 0
  var largeMallocs: UInt = 0
  var largeFrees: UInt = 0
  var hugeBytes: UInt = 0
  var hugeCount: UInt = 0
  var metadataMapped: UInt = 0
  var dirtyPages: UInt = 0
  var muzzyPages: UInt = 0
  var purgedPages: UInt = 0
  var hugeCachedBytes: UInt = 0
  /// Pages held by slabs.
  var slabPages: UInt = 0
  /// Free regions in those slabs.
  var slabFreeRegions: UInt = 0
  /// The arenas' bin locks and extent locks, summed (Lock.swift).
  var binLocks = LockCounters()
  var extentLocks = LockCounters()

  /// Bytes in blocks handed out.
  var allocated: UInt { smallBytes &+ largeBytes &+ hugeBytes }
  /// Bytes in pages that hold allocations: slabs, large runs, huge blocks.
  var active: UInt { (slabPages << pageShift) &+ largeBytes &+ hugeBytes }
  /// Bytes mapped for huge blocks: their usable pages and the rest of a
  /// larger cached mapping they reused.
  var hugeMappedBytes: UInt = 0
  /// Bytes mapped: chunks, huge blocks, the huge cache, metadata.
  var mapped: UInt { chunks &* chunkSize &+ hugeMappedBytes &+ hugeCachedBytes &+ metadataMapped }
  /// Bytes of all those mappings that the kernel holds resident, as it
  /// reports them (mincore); filled by statsGather(measureResident: true).
  var resident: UInt = 0
}


/// Free regions in the slabs of bin `bin` (class `sizeClass`); its lock held.
@inline(__always)
func binFreeRegions(_ bin: UnsafeMutablePointer<Bin>, _ sizeClass: Int) -> UInt {
  bin.pointee.slabCount &* UInt(config.binInfos[sizeClass].regionCount) &- bin.pointee.regionsInUse
}

// MARK: Resident memory, measured

/// mincore's answer for one window of pages (1 byte a page, 16 MiB of 4 KiB
/// pages per call), from base memory on first use; guarded by
/// residentScanLock.
nonisolated(unsafe) var residentScanVector: UnsafeMutablePointer<UInt8>? = nil
let residentScanWindowPages: UInt = 4096
/// Serializes resident scans; guards residentScanVector.
nonisolated(unsafe) var residentScanLock = Mutex()

/// Resident bytes of [address, address + size), per the kernel. A range
/// unmapped meanwhile counts what was answered before (mincore fails).
private func residentBytes(_ address: UInt, _ size: UInt, _ vector: UnsafeMutablePointer<UInt8>) -> UInt {
  var pages: UInt = 0
  var at = address
  let end = address &+ size
  while at < end {
    let n = min(residentScanWindowPages, (end &- at) >> pageShift)
    if n == 0 { break }
    if mincore(UnsafeMutableRawPointer(bitPattern: at), Int(n << pageShift), vector) != 0 { break }
    var i = 0
    while i < Int(n) { pages &+= UInt(vector[i] & 1); i &+= 1 }
    at &+= n << pageShift
  }
  return pages << pageShift
}

/// What the kernel holds resident of swalloc's mappings: arena chunks and
/// huge blocks (found through the radix page map), the huge cache and the
/// base allocator's metadata. Measured, not estimated: pages handed out
/// but never touched, or purged, or MADV_FREE'd and reclaimed, are not
/// resident, and no counter can know which those are. About 0.6-1 ms per
/// GiB mapped (1 GiB of 1 MiB blocks: 0.57 ms a read; 2 GiB of 4 KiB
/// blocks: 2.1 ms); only statistics readers pay it, and a program that
/// polls stats.resident pays it at most 1% of the time
/// (residentForStats).
func residentMeasure() -> UInt {
  let saved = swalloc_errno()
  let total = withLock(&residentScanLock) { residentMeasureLocked() }
  swalloc_set_errno(saved)
  return total
}

/// The last measurement stats.resident made (residentForStats): its
/// result, residentEstimate then (bytes), when it ended (monotonic
/// microseconds) and the CPU time it took (microseconds); endUs 0: none
/// yet. Guarded by residentScanLock.
nonisolated(unsafe) var residentLast = (measured: UInt(0), estimate: UInt(0), endUs: UInt64(0), costUs: UInt64(0))

/// Measuring may take at most 1 / residentCostShare of the time between
/// two measurements for stats.resident, once a measurement takes
/// residentCostFloorUs or more (a heap of about 1 GiB).
let residentCostShare: UInt64 = 100
let residentCostFloorUs: UInt64 = 1000

/// stats.resident: residentMeasure, unless the last measurement took 1 ms
/// of CPU time or more and ended less than residentCostShare times that
/// ago; then that result plus the pages swalloc took and gave back since
/// (the change in residentEstimate: pages taken count whether touched or
/// not, and a page the program first touches since is not seen, so it is
/// approximate until the next measurement). Why: redis reads
/// stats.resident ten times a second (after each "epoch", for INFO's
/// allocator figures), and a measurement costs about 1 ms per GiB: a 2 GiB
/// heap polled in a loop took 2.1 ms a read, 1% of a core per GiB of heap
/// at redis's rate, where jemalloc's counter costs 0.02 ms. A heap below
/// about 1 GiB is measured at every read (at most 1% of the time at
/// redis's rate); a bigger one at most 1% of the time, and at the first
/// read after an explicit purge (malloc_trim, arena.<i>.purge:
/// residentForget). (Estimating for small heaps too broke the fuzzer's
/// check, exact within 256 KiB right after a purge: 772 KiB off. The cost
/// is the thread's CPU time, not the wall time: a scan of a small heap
/// that waited for a core, as on a busy machine, once took a millisecond
/// by the clock and made the next reads estimates, 3.5 MiB off after a
/// malloc_trim in the suite's fuzzer.)
func residentForStats() -> UInt {
  let saved = swalloc_errno()
  let total = withLock(&residentScanLock) { () -> UInt in
    let now = monotonicUs()
    let estimate = residentEstimate() << pageShift
    let last = residentLast
    if last.endUs != 0 && last.costUs >= residentCostFloorUs && now &- last.endUs < last.costUs &* residentCostShare {
      let since = Int(bitPattern: estimate) &- Int(bitPattern: last.estimate)
      return UInt(bitPattern: max(Int(bitPattern: last.measured) &+ since, 0))
    }
    let cpu = threadCpuUs()
    let measured = residentMeasureLocked()
    let cost = threadCpuUs() &- cpu
    residentLast = (measured, estimate, max(monotonicUs(), 1), cost)
    return measured
  }
  swalloc_set_errno(saved)
  return total
}

/// Makes the next stats.resident read a measurement (an explicit purge).
/// Inlined: malloc_trim's path (purgeArena) is in the warm text, and a
/// call into the cold text would map 64 KiB of it (scripts/check-library.sh).
@inline(__always)
func residentForget() {
  withLock(&residentScanLock) { residentLast.endUs = 0 }
}

/// residentMeasure's scan; residentScanLock held. The callers keep errno
/// (mincore sets it for a range unmapped meanwhile).
private func residentMeasureLocked() -> UInt {
  var total: UInt = 0
  // The window's vector, then one byte per page of a radix leaf.
  let leafPages = UInt(pageMapLeafVectorBytes)
  if residentScanVector == nil {
    residentScanVector = baseAlloc(residentScanWindowPages &+ leafPages)?
      .bindMemory(to: UInt8.self, capacity: Int(residentScanWindowPages &+ leafPages))
  }
  guard let vector = residentScanVector else { return 0 }
  pageMapForEachEntry(vector: vector + Int(residentScanWindowPages)) { entry in
    if entry & pageMapArenaChunkTag != 0 {
      let meta = UnsafeMutablePointer<ChunkMeta>(bitPattern: entry & ~pageMapArenaChunkTag).unsafelyUnwrapped
      total &+= residentBytes(meta.pointee.chunk, chunkSize, vector)
    } else if let record = UnsafeMutablePointer<Extent>(bitPattern: entry) {
      total &+= residentBytes(record.pointee.address, hugeRecordBytes(record), vector)
    }
  }
  withLock(&hugeCacheLock) {
    var e = hugeCache.first
    while let cur = e { total &+= residentBytes(cur.pointee.address, hugeRecordBytes(cur), vector); e = cur.pointee.next }
  }
  withLock(&baseLock) {
    baseForEachMapping { address, size in total &+= residentBytes(address, size, vector) }
  }
  return total
}

/// Reads every arena's counters (only arena `only`'s when it is >= 0) under
/// their locks, and the huge and metadata figures; with `measureResident`,
/// also what the kernel holds resident (residentMeasure).
func statsGather(only: Int = -1, measureResident: Bool = false) -> StatsTotals {
  var s = StatsTotals()
  if !ensureBooted() { return s }
  if measureResident { s.resident = residentMeasure() }
  withLock(&arenasLock) {
    var i = 0
    while i < arenaCount {
      if only < 0 || i == only, let a = arenas[i] {
        s.arenasInUse &+= 1
        s.threads &+= UInt(arenaThreadCounts[i])
        var c = 0
        while c < config.smallClassCount {
          let bin = a.pointee.bins + c
          withLock(&bin.pointee.lock) {
            s.slabs &+= bin.pointee.slabCount
            s.slabPages &+= bin.pointee.slabCount &* UInt(config.binInfos[c].slabPages)
            s.smallRegions &+= bin.pointee.regionsInUse
            s.slabFreeRegions &+= binFreeRegions(bin, c)
            s.smallBytes &+= bin.pointee.regionsInUse &* sizeClassSize(c)
            s.smallMallocs &+= bin.pointee.mallocs
            s.smallFrees &+= bin.pointee.frees
            s.refills &+= bin.pointee.refills
            s.binLocks.add(lockCountersLocked(&bin.pointee.lock))
          }
          c &+= 1
        }
        withLock(&a.pointee.extentLock) {
          s.chunks &+= a.pointee.chunkCount
          s.largeBytes &+= a.pointee.largeBytes
          s.largeCount &+= a.pointee.largeCount
          s.largeMallocs &+= a.pointee.largeMallocs
          s.largeFrees &+= a.pointee.largeFrees
          // The slab pool's empty slabs and the cached large runs are
          // free dirty pages too.
          s.dirtyPages &+= a.pointee.dirty.pages &+ a.pointee.slabPool.pages &+ a.pointee.largeCache.pages
          s.muzzyPages &+= a.pointee.muzzyPagesTotal
          s.purgedPages &+= a.pointee.dirty.purged &+ a.pointee.muzzy.purged
          s.extentLocks.add(lockCountersLocked(&a.pointee.extentLock))
        }
      }
      i &+= 1
    }
  }
  s.hugeBytes = hugeBytes.load(ordering: .relaxed)
  s.hugeMappedBytes = hugeMappedBytes.load(ordering: .relaxed)
  s.hugeCount = hugeCount.load(ordering: .relaxed)
  s.hugeCachedBytes = withLock(&hugeCacheLock) { hugeCacheBytes }
  s.metadataMapped = withLock(&baseLock) { base.mapped }
  return s
}

/// One small size class summed over the arenas (or of arena `only`).
func classStats(_ sizeClass: Int, only: Int = -1) -> ClassStats {
  var c = ClassStats()
  withLock(&arenasLock) {
    var i = 0
    while i < arenaCount {
      if only < 0 || i == only, let a = arenas[i] {
        let bin = a.pointee.bins + sizeClass
        withLock(&bin.pointee.lock) {
          c.slabs &+= bin.pointee.slabCount
          c.regions &+= bin.pointee.regionsInUse
          c.mallocs &+= bin.pointee.mallocs
          c.frees &+= bin.pointee.frees
          c.refills &+= bin.pointee.refills
          c.lock.add(lockCountersLocked(&bin.pointee.lock))
        }
      }
      i &+= 1
    }
  }
  return c
}

/// The process-wide locks a workload could meet on (stats.mutexes.*):
/// arenasLock (thread binding, arena creation, statistics), baseLock
/// (metadata), hugeCacheLock (huge blocks kept for reuse). Each is read
/// under itself.
func globalLockStats() -> (arenas: LockCounters, base: LockCounters, huge: LockCounters) {
  (lockCounters(&arenasLock), lockCounters(&baseLock), lockCounters(&hugeCacheLock))
}

/// glibc's mallinfo2 from the same counters as the report: arena = chunk
/// bytes, hblks/hblkhd = huge blocks, uordblks = allocated small + large,
/// fordblks = chunk bytes not allocated.
func statsMallinfo2() -> swalloc_mallinfo2 {
  var m = swalloc_mallinfo2()
  let s = statsGather()
  let chunkBytes = s.chunks &* chunkSize
  let used = s.smallBytes &+ s.largeBytes
  m.arena = Int(chunkBytes)
  m.hblks = Int(s.hugeCount)
  m.hblkhd = Int(s.hugeBytes)
  m.uordblks = Int(used)
  m.fordblks = Int(chunkBytes > used ? chunkBytes &- used : 0)
  return m
}

// The statistics report: text and JSON (malloc_stats, malloc_stats_print,
// stats_print at exit) and glibc's malloc_info XML, written through a line
// buffer in static storage to a descriptor or a jemalloc-style callback;
// the figures come from Stats.swift.

import CSwallocPlatform
import Synchronization

/// A line buffer in static storage; report printing is serialized by
/// `reportLock`, which guards the buffer and its length.
nonisolated(unsafe) var reportLock = Mutex()
nonisolated(unsafe) var reportBuffer = InlineArray<128, UInt8>(repeating: 0)
nonisolated(unsafe) var reportLength = 0
let reportCapacity = 128   // reportBuffer's length


/// jemalloc's malloc_stats_print write callback: gets the report in
/// NUL-terminated pieces.
public typealias StatsWriteCallback = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Void

/// While a report is printed for malloc_stats_print (guarded by reportLock):
/// the callback that gets it instead of config.opt.reportFd, and its argument.
nonisolated(unsafe) var reportCallback: StatsWriteCallback? = nil
nonisolated(unsafe) var reportCallbackContext: UnsafeMutableRawPointer? = nil

private func flushLine() {
  let length = reportLength
  reportLength = 0
  if length == 0 { return }
  if let callback = reportCallback {
    // put() leaves the last byte free for the terminator.
    withUnsafeMutableBytes(of: &reportBuffer) { raw in
      raw[length] = 0
      callback(reportCallbackContext, raw.baseAddress.unsafelyUnwrapped.assumingMemoryBound(to: CChar.self))
    }
    return
  }
  let fd = config.opt.reportFd
  withUnsafeBytes(of: &reportBuffer) { raw in _ = write(fd, raw.baseAddress, length) }
}

private func put(_ byte: UInt8) {
  if reportLength == reportCapacity &- 1 { flushLine() }
  let index = reportLength
  reportBuffer[index] = byte
  reportLength = index &+ 1
}

private func put(_ s: StaticString) {
  var i = 0
  while i < s.utf8CodeUnitCount { put(s.utf8Start[i]); i &+= 1 }
}

private func put(_ n: UInt) {
  // A UInt's 20 decimal digits at most, least significant first.
  var digits = InlineArray<20, UInt8>(repeating: 0)
  var count = 0
  var v = n
  repeat {
    digits[count] = UInt8(truncatingIfNeeded: v % 10) &+ 48
    v /= 10
    count &+= 1
  } while v != 0
  while count > 0 { count &-= 1; put(digits[count]) }
}

/// Bytes as "N.N MiB" / "N.N KiB" / "N B".
private func putBytes(_ n: UInt) {
  if n >= 1 << 20 {
    put(n >> 20); put("."); put(((n & ((1 << 20) &- 1)) &* 10) >> 20); put(" MiB")
  } else if n >= 1 << 10 {
    put(n >> 10); put("."); put(((n & 1023) &* 10) >> 10); put(" KiB")
  } else {
    put(n); put(" B")
  }
}

struct ClassStats {
  var slabs: UInt = 0
  var regions: UInt = 0
  var mallocs: UInt = 0
  var frees: UInt = 0
  var refills: UInt = 0
  /// The bin locks' counters (Lock.swift).
  var lock = LockCounters()
}

/// One line of lock counters: acquisitions, and how many of them spun or
/// slept because another thread held the lock.
private func putLock(_ name: StaticString, _ l: LockCounters) {
  put(name); put(" "); put(UInt(l.operations)); put(" ("); put(UInt(l.spinAcquired)); put(" spun, ")
  put(UInt(l.waited)); put(" slept)")
}

private func putLockJSON(_ name: StaticString, _ l: LockCounters) {
  put("\""); put(name); put("\": {\"num_ops\": "); put(UInt(l.operations))
  put(", \"num_spin_acq\": "); put(UInt(l.spinAcquired)); put(", \"num_wait\": "); put(UInt(l.waited)); put("}")
}

/// Pads to `width` columns with spaces on the left of a number.
private func putPadded(_ n: UInt, width: Int) {
  var digits = 1
  var v = n
  while v >= 10 { v /= 10; digits &+= 1 }
  while digits < width { put(" "); digits &+= 1 }
  put(n)
}

/// Prints the report to stderr (or the stats_fd descriptor), or hands it to
/// `callback`: text, or JSON with stats_print_opts:J or `json`.
func statsPrint(json: Bool = config.opt.statsJSON, to callback: StatsWriteCallback? = nil,
                context: UnsafeMutableRawPointer? = nil) {
  let s = statsGather(measureResident: true)
  withReport(to: callback, context: context) {
    if json { statsPutJSON(s) } else { statsPutText(s) }
  }
}

/// The thread printing a report (swalloc_tls_lock_owner_id), 0 when none: a write
/// callback runs with reportLock held, so a report it starts itself, or a
/// fork it makes, must not wait for that lock (it would wait forever).
/// Atomic (relaxed): a thread only compares it with its own id (the
/// address of one of its TLS slots, as the locks name their holder), which
/// only it stores.
let reportOwner = Atomic<UInt>(0)

/// Whether the calling thread holds reportLock (inside a write callback).
@inline(__always)
func reportHeldByThisThread() -> Bool {
  reportOwner.load(ordering: .relaxed) == UInt(swalloc_tls_lock_owner_id())
}

/// Runs `body`'s put() calls as one report to `callback` (or config.opt.reportFd). A
/// report started from a report's own write callback is refused with a
/// one-line message (the line buffer is the outer report's): no hang.
private func withReport(to callback: StatsWriteCallback?, context: UnsafeMutableRawPointer?, _ body: () -> Void) {
  if reportHeldByThisThread() {
    writeStderr("swalloc: statistics report requested from a report's write callback: ignored\n")
    return
  }
  withLock(&reportLock) {
    reportOwner.store(UInt(swalloc_tls_lock_owner_id()), ordering: .relaxed)
    reportCallback = callback
    reportCallbackContext = context
    body()
    flushLine()
    reportCallback = nil
    reportCallbackContext = nil
    reportOwner.store(0, ordering: .relaxed)
  }
}

/// glibc's malloc_info XML (its element names, swalloc's figures): per arena
/// in use a <heap> whose <sizes> list the free regions in slabs per small
/// class; "rest" is those regions plus the arena's free pages; "mmap" the
/// huge blocks; <system>/<aspace> the mapped bytes (chunks per heap, all
/// mappings in the totals; "max" = current: no high-water mark is kept).
func statsPrintXML(to callback: StatsWriteCallback, context: UnsafeMutableRawPointer?) {
  if !ensureBooted() { return }
  let all = statsGather()
  withReport(to: callback, context: context) {
    put("<malloc version=\"1\">\n")
    var totalCount: UInt = 0
    var totalBytes: UInt = 0
    var i = 0
    while i < arenaCount {
      if let a = withLock(&arenasLock, { arenas[i] }) {
        let h = statsGather(only: i)
        put("<heap nr=\""); put(UInt(i)); put("\">\n<sizes>\n")
        var freeRegionBytes: UInt = 0
        var c = 0
        while c < config.smallClassCount {
          let bin = a.pointee.bins + c
          let free = withLock(&bin.pointee.lock) { binFreeRegions(bin, c) }
          if free != 0 {
            let size = sizeClassSize(c)
            put("  <size from=\""); put(c == 0 ? 1 : sizeClassSize(c &- 1) &+ 1); put("\" to=\""); put(size)
            put("\" total=\""); put(free &* size); put("\" count=\""); put(free); put("\"/>\n")
            freeRegionBytes &+= free &* size
          }
          c &+= 1
        }
        let chunkBytes = h.chunks &* chunkSize
        let usedPages = (h.slabPages << pageShift) &+ h.largeBytes
        let freePageBytes = chunkBytes > usedPages ? chunkBytes &- usedPages : 0
        let restBytes = freeRegionBytes &+ freePageBytes
        totalCount &+= h.slabFreeRegions
        totalBytes &+= restBytes
        put("</sizes>\n<total type=\"fast\" count=\"0\" size=\"0\"/>\n<total type=\"rest\" count=\"")
        put(h.slabFreeRegions); put("\" size=\""); put(restBytes); put("\"/>\n")
        putSystem(chunkBytes)
        put("</heap>\n")
      }
      i &+= 1
    }
    put("<total type=\"fast\" count=\"0\" size=\"0\"/>\n<total type=\"rest\" count=\"")
    put(totalCount); put("\" size=\""); put(totalBytes); put("\"/>\n<total type=\"mmap\" count=\"")
    put(all.hugeCount); put("\" size=\""); put(all.hugeBytes); put("\"/>\n")
    putSystem(all.mapped)
    put("</malloc>\n")
  }
}

private func putSystem(_ bytes: UInt) {
  put("<system type=\"current\" size=\""); put(bytes); put("\"/>\n<system type=\"max\" size=\""); put(bytes)
  put("\"/>\n<aspace type=\"total\" size=\""); put(bytes); put("\"/>\n<aspace type=\"mprotect\" size=\"")
  put(bytes); put("\"/>\n")
}

private func statsPutText(_ s: StatsTotals) {
  let mapped = s.mapped
  put("___ swalloc statistics ___\n")
  put("arenas: "); put(UInt(arenaCount)); put(" configured, "); put(s.arenasInUse)
  put(" in use; threads bound to them: "); put(s.threads)
  put("; moves on lock contention: "); put(UInt(threadsSpread.load(ordering: .relaxed))); put("\n")
  put("allocated: "); putBytes(s.smallBytes &+ s.largeBytes &+ s.hugeBytes)
  put(" (peak "); putBytes(statsAllocatedPeak()); put(")")
  put("; small "); putBytes(s.smallBytes); put(", large "); putBytes(s.largeBytes)
  put(", huge "); putBytes(s.hugeBytes); put("\n")
  put("mapped: "); putBytes(mapped); put(" ("); put(s.chunks); put(" chunks of ")
  putBytes(chunkSize); put(", metadata "); putBytes(s.metadataMapped); put(")\n")
  put("small: "); put(s.smallRegions); put(" regions in "); put(s.slabs); put(" slabs; ")
  // Bin traffic: regions taken out (by thread-cache refills and uncached
  // calls) and put back, not malloc/free calls: cache hits never reach a bin.
  put(s.smallMallocs); put(" regions taken out of the bins ("); put(s.refills); put(" refills), ")
  put(s.smallFrees); put(" put back\n")
  put("large: "); put(s.largeCount); put(" live; "); put(s.largeMallocs); put(" allocations, ")
  put(s.largeFrees); put(" frees; huge: "); put(s.hugeCount); put(" live, ")
  putBytes(s.hugeCachedBytes); put(" cached\n")
  put("free pages: "); putBytes(s.dirtyPages << pageShift); put(" dirty, ")
  putBytes(s.muzzyPages << pageShift); put(" muzzy; purged so far: ")
  putBytes(s.purgedPages << pageShift); put("\n")
  let globals = globalLockStats()
  put("locks, acquired: "); putLock("bins", s.binLocks); put(", "); putLock("extents", s.extentLocks); put(";\n  ")
  putLock("arenas", globals.arenas); put(", "); putLock("base", globals.base); put(", ")
  putLock("huge", globals.huge); put("\n")
  // Per small size class: regions in use, slabs, utilization, traffic.
  put("    size  regs/slab   slabs  in use  util%   taken out   put back\n")
  var c = 0
  while c < config.smallClassCount {
    let k = classStats(c)
    if k.mallocs != 0 {
      let perSlab = UInt(config.binInfos[c].regionCount)
      putPadded(sizeClassSize(c), width: 8); putPadded(perSlab, width: 11); putPadded(k.slabs, width: 8)
      putPadded(k.regions, width: 8)
      putPadded(k.slabs == 0 ? 0 : k.regions &* 100 / (k.slabs &* perSlab), width: 7)
      putPadded(k.mallocs, width: 12); putPadded(k.frees, width: 11); put("\n")
    }
    c &+= 1
  }
}

/// The same report as one JSON object (stats_print_opts:J).
private func statsPutJSON(_ s: StatsTotals) {
  let allocated = s.allocated
  let mapped = s.mapped
  put("{\"swalloc\": {\"version\": \""); put(swallocVersion); put("\", \"arenas\": "); put(UInt(arenaCount))
  put(", \"arenas_in_use\": "); put(s.arenasInUse); put(", \"threads\": "); put(s.threads)
  put(", \"contention_moves\": "); put(UInt(threadsSpread.load(ordering: .relaxed)))
  put(", \"pid\": "); put(UInt(swalloc_getpid()))
  put(", \"allocated\": "); put(allocated); put(", \"allocated_peak\": ")
  put(statsAllocatedPeak()); put(", \"active\": "); put(s.active)
  put(", \"mapped\": "); put(mapped); put(", \"metadata\": "); put(s.metadataMapped)
  put(", \"resident\": ")
  put(s.resident)
  put(", \"dirty\": "); put(s.dirtyPages << pageShift); put(", \"muzzy\": "); put(s.muzzyPages << pageShift)
  put(", \"purged\": "); put(s.purgedPages << pageShift)
  put(", \"large\": {\"allocated\": "); put(s.largeBytes); put(", \"live\": "); put(s.largeCount)
  put(", \"nmalloc\": "); put(s.largeMallocs); put(", \"ndalloc\": "); put(s.largeFrees)
  put("}, \"huge\": {\"allocated\": "); put(s.hugeBytes); put(", \"live\": "); put(s.hugeCount)
  put(", \"cached\": "); put(s.hugeCachedBytes); put("}, \"mutexes\": {")
  let globals = globalLockStats()
  putLockJSON("bins", s.binLocks); put(", "); putLockJSON("extents", s.extentLocks); put(", ")
  putLockJSON("arenas", globals.arenas); put(", "); putLockJSON("base", globals.base); put(", ")
  putLockJSON("huge", globals.huge); put("}, \"bins\": [")
  var c = 0
  var first = true
  while c < config.smallClassCount {
    let k = classStats(c)
    if k.mallocs != 0 {
      if !first { put(", ") }
      first = false
      put("{\"size\": "); put(sizeClassSize(c)); put(", \"nregs\": "); put(UInt(config.binInfos[c].regionCount))
      put(", \"curslabs\": "); put(k.slabs); put(", \"curregs\": "); put(k.regions)
      put(", \"nmalloc\": "); put(k.mallocs); put(", \"ndalloc\": "); put(k.frees); put("}")
    }
    c &+= 1
  }
  put("]}}\n")
}

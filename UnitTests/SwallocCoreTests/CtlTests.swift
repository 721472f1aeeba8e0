import XCTest
@testable import SwallocCore
#if canImport(Glibc)
import Glibc
#endif

final class CtlTests: XCTestCase {
  override func setUp() { XCTAssertTrue(ensureBooted()) }

  private func read<T>(_ name: String, _ type: T.Type) -> (Int32, T?) {
    let value = UnsafeMutablePointer<T>.allocate(capacity: 1)
    defer { value.deallocate() }
    var length = MemoryLayout<T>.size
    let rc = name.withCString { swallocCtl($0, value, &length, nil, 0) }
    return (rc, rc == 0 ? value.pointee : nil)
  }

  /// Every name of the table answers, by name and by MIB: asked with a
  /// zero-length buffer, each says EINVAL and reports its value's length
  /// (without acting: actions refuse a buffer, read/write names check the
  /// length first), or EPERM for a write-only name (jemalloc's prof.dump,
  /// prof.reset), never ENOENT.
  func testEveryNameInTheTableAnswers() {
    var k = 0
    var names = 0
    while let entry = CtlName(rawValue: k) {
      k += 1
      // "#" -> 0, or 4096 (all arenas) for the stats of arenas.
      var name = ""
      let pattern = entry.shape.pattern.description
      var seen = 0
      for ch in pattern {
        if ch == "#" {
          name += entry.shape.index == .statsArena || (entry.shape.index == .statsArenaBin && seen == 0) ? "4096" : "0"
          seen += 1
        } else {
          name.append(ch)
        }
      }
      var buffer = (0, 0)
      var length = 0
      let rc = withUnsafeMutableBytes(of: &buffer) { raw in
        name.withCString { swallocCtl($0, raw.baseAddress, &length, nil, 0) }
      }
      XCTAssertTrue(rc == EINVAL || rc == EPERM, "\(name): \(rc)")
      var mib = [Int](repeating: -1, count: 8)
      var mibLength = mib.count
      XCTAssertEqual(name.withCString { n in mib.withUnsafeMutableBufferPointer { swallocMallctlnametomib(n, $0.baseAddress, &mibLength) } }, 0, name)
      var byMibLength = 0
      let byMib = withUnsafeMutableBytes(of: &buffer) { raw in
        mib.withUnsafeBufferPointer { swallocMallctlbymib($0.baseAddress, mibLength, raw.baseAddress, &byMibLength, nil, 0) }
      }
      XCTAssertEqual(byMib, rc, "\(name) by MIB")
      XCTAssertEqual(byMibLength, length, "\(name): the same length by name and by MIB")
      names += 1
    }
    XCTAssertGreaterThan(names, 80)
  }

  /// The lock counters: every acquisition counts, one that finds the lock
  /// held past the spin sleeps and counts as waited; the statistics names
  /// report an arena's extent-lock acquisitions.
  func testLockCountersCountAcquisitionsAndWaits() {
    // The counters are updated through these offsets (Lock.swift).
    XCTAssertEqual(MemoryLayout<Mutex>.offset(of: \Mutex.spinAcquired), 4)
    XCTAssertEqual(MemoryLayout<Mutex>.offset(of: \Mutex.operations), 8)
    XCTAssertEqual(MemoryLayout<Mutex>.offset(of: \Mutex.waited), 16)
    XCTAssertEqual(MemoryLayout<Mutex>.offset(of: \Mutex.holder), 24)
    let m = UnsafeMutablePointer<Mutex>.allocate(capacity: 1)
    defer { m.deallocate() }
    m.initialize(to: Mutex())
    for _ in 0..<10 { mutexLock(m); mutexUnlock(m) }
    XCTAssertEqual(m.pointee.operations, 10)
    XCTAssertEqual(m.pointee.waited, 0)
    XCTAssertEqual(m.pointee.spinAcquired, 0)
    // Held for 50 ms by this thread: another thread's acquisition spins
    // (100 tries, well under a millisecond), then sleeps until the unlock.
    mutexLock(m)
    let address = UInt(bitPattern: m)
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { raw in
      let lock = UnsafeMutablePointer<Mutex>(bitPattern: UInt(bitPattern: raw))!
      mutexLock(lock)
      mutexUnlock(lock)
      return nil
    }, UnsafeMutableRawPointer(bitPattern: address))
    XCTAssertEqual(rc, 0)
    usleep(50_000)
    mutexUnlock(m)
    pthread_join(thread, nil)
    XCTAssertEqual(m.pointee.operations, 12)
    XCTAssertEqual(m.pointee.waited, 1)
    XCTAssertEqual(lockCounters(m).operations, 12, "the reading acquisition is left out")

    let before = read("stats.arenas.4096.mutexes.extents.num_ops", UInt64.self).1 ?? 0
    // A large block past the thread cache (1 MiB): its run is taken and
    // given back under the arena's extent lock.
    let p = swallocMalloc(1 << 20)
    swallocFree(p)
    let after = read("stats.arenas.4096.mutexes.extents.num_ops", UInt64.self).1 ?? 0
    XCTAssertGreaterThanOrEqual(after, before + 2)
  }

  func testReadsNamesAndRejectsBadRequests() {
    XCTAssertEqual(read("arenas.narenas", UInt32.self).1, UInt32(arenaCount))
    XCTAssertEqual(read("arenas.bin.0.size", Int.self).1, 16)
    XCTAssertEqual(read("arenas.bin.8.size", Int.self).1, 160)
    XCTAssertEqual(read("arenas.bin.99.size", Int.self).0, ENOENT)
    XCTAssertEqual(read("opt.dirty_decay_ms", Int.self).1, config.opt.dirtyDecayMs)
    XCTAssertEqual(read("opt.tcache", Bool.self).1, config.opt.tcache)
    XCTAssertEqual(read("no.such.name", Int.self).0, ENOENT)
    XCTAssertEqual(read("stats.allocatedX", Int.self).0, ENOENT)
    // Wrong length: EINVAL, with as many bytes as fit and their count
    // (jemalloc's READ); a larger buffer learns the value's length.
    var small: UInt32 = 0xAAAA_AAAA
    var length = 4
    XCTAssertEqual("arenas.page".withCString { swallocCtl($0, &small, &length, nil, 0) }, EINVAL)
    XCTAssertEqual(length, 4)
    XCTAssertEqual(small, UInt32(pageSize))
    var large = (UInt(0), UInt(0xAAAA))
    length = 16
    XCTAssertEqual("arenas.page".withCString { swallocCtl($0, &large, &length, nil, 0) }, EINVAL)
    XCTAssertEqual(length, 8)
    XCTAssertEqual(large.0, pageSize)
    XCTAssertEqual(large.1, 0xAAAA)
    // Read-only names refuse writes, a new length alone too.
    var value = 1
    XCTAssertEqual("stats.allocated".withCString { swallocCtl($0, nil, nil, &value, 8) }, EPERM)
    XCTAssertEqual("stats.allocated".withCString { swallocCtl($0, nil, nil, nil, 8) }, EPERM)
    // Actions take no values: EPERM (jemalloc's NEITHER_READ_NOR_WRITE).
    length = 8
    XCTAssertEqual("thread.tcache.flush".withCString { swallocCtl($0, &value, &length, nil, 0) }, EPERM)
    XCTAssertEqual("thread.tcache.flush".withCString { swallocCtl($0, nil, &length, nil, 0) }, EPERM)
    XCTAssertEqual("thread.tcache.flush".withCString { swallocCtl($0, nil, nil, nil, 0) }, 0)
  }

  /// thread.idle (jemalloc 5.3's idle hint): an action that returns the
  /// calling thread's cached blocks.
  func testThreadIdleReturnsTheCachedBlocks() {
    var value = 0
    var length = 8
    XCTAssertEqual("thread.idle".withCString { swallocCtl($0, &value, &length, nil, 0) }, EPERM)
    XCTAssertEqual("thread.idle".withCString { swallocCtl($0, nil, nil, &value, 8) }, EPERM)
    let blocks = (0..<64).map { _ in swallocMalloc(48)! }
    for b in blocks { swallocFree(b) }
    guard let t = currentTcache() else { return XCTFail("the test thread has no cache") }
    XCTAssertGreaterThan(tcacheBin(t, classIndexFor(48)).count, 0, "the frees were cached")
    XCTAssertEqual("thread.idle".withCString { swallocCtl($0, nil, nil, nil, 0) }, 0)
    for c in 0..<config.tcacheClassCount { XCTAssertEqual(tcacheBin(t, c).count, 0, "class \(c) still holds blocks") }
    // (A thread without a cache: tests/compat, where thread.tcache.enabled
    // can turn this thread's off; the twin's test threads share caches set
    // up by other tests.)
  }

  /// thread.peak (jemalloc 5.3): the highest allocated - deallocated of the
  /// thread since thread.peak.reset, sampled on the slow paths, exact when
  /// read, and low by at most what the thread's cache held when the rise
  /// came from cached blocks and was freed before any slow path.
  func testThreadPeakFollowsTheHighestNetAllocation() {
    var value: UInt64 = 0
    var length = 8
    XCTAssertEqual("thread.peak.read".withCString { swallocCtl($0, nil, nil, &value, 8) }, EPERM)
    XCTAssertEqual("thread.peak.reset".withCString { swallocCtl($0, &value, &length, nil, 0) }, EPERM)
    XCTAssertEqual("thread.peak.reset".withCString { swallocCtl($0, nil, nil, &value, 8) }, EPERM)
    func reset() { XCTAssertEqual("thread.peak.reset".withCString { swallocCtl($0, nil, nil, nil, 0) }, 0) }
    func peak() -> UInt64 {
      var v: UInt64 = 0
      var n = 8
      XCTAssertEqual("thread.peak.read".withCString { swallocCtl($0, &v, &n, nil, 0) }, 0)
      XCTAssertEqual(n, 8)
      return v
    }
    reset()
    XCTAssertEqual(peak(), 0)
    // A huge block: counted on its slow path, exactly.
    let huge = swallocMalloc(8 << 20)!
    swallocFree(huge)
    XCTAssertEqual(peak(), 8 << 20)
    // Small blocks: exact at the read, and frees lower the net, not the peak.
    reset()
    let small = (0..<4096).map { _ in swallocMalloc(64)! }
    XCTAssertEqual(peak(), 4096 * 64)
    for b in small { swallocFree(b) }
    XCTAssertEqual(peak(), 4096 * 64)
    // The same rise freed before the read: sampled at the refills, short by
    // at most the pops since the last one (one refill, at most 32 KiB).
    reset()
    let again = (0..<4096).map { _ in swallocMalloc(64)! }
    for b in again { swallocFree(b) }
    let sampled = peak()
    XCTAssertLessThanOrEqual(sampled, 4096 * 64)
    XCTAssertGreaterThanOrEqual(sampled, 4096 * 64 - UInt64(tcacheRefillBudget))
    // Large blocks taken from the cache (the second round) and freed before
    // the read: short by at most what their stack held.
    let usable = UInt64(sizeClassSize(classIndexFor(20000)))
    for _ in 0..<2 {
      let runs = (0..<64).map { _ in swallocMalloc(20000)! }
      for r in runs { swallocFree(r) }
    }
    reset()
    let runs = (0..<64).map { _ in swallocMalloc(20000)! }
    for r in runs { swallocFree(r) }
    let large = peak()
    XCTAssertLessThanOrEqual(large, 64 * usable)
    XCTAssertGreaterThanOrEqual(large, 64 * usable - UInt64(tcacheBigGrowBudget))
    // A thread that frees more than it allocates (a block from before the
    // reset) keeps a peak of 0: the difference is compared as signed.
    let held = swallocMalloc(1 << 20)!
    reset()
    swallocFree(held)
    XCTAssertEqual(peak(), 0)
  }

  func testStatsFollowAllocationsAndPurgeEmptiesDirtyPages() {
    // The thread's cache emptied first: its collector (tcacheEvent, every
    // few refills; tcacheIdleTick, by the clock) may hand cached regions
    // back to the bins between the two reads, which stats.allocated then
    // counts out (6,375,056 against 6,400,000: 3 of 23 runs of the suite
    // once the arenas stopped purging below their high-water mark, 0 of
    // 14 before; 0 of 20 with the flush).
    XCTAssertEqual("thread.tcache.flush".withCString { swallocCtl($0, nil, nil, nil, 0) }, 0)
    let before = read("stats.allocated", Int.self).1!
    let blocks = (0..<64).map { _ in swallocMalloc(100_000)! }
    for b in blocks { memset(b, 1, 100_000) }
    let during = read("stats.allocated", Int.self).1!
    XCTAssertGreaterThanOrEqual(during - before, 64 * 100_000)
    XCTAssertGreaterThanOrEqual(read("stats.active", Int.self).1!, during - before)
    XCTAssertGreaterThanOrEqual(read("stats.mapped", Int.self).1!, read("stats.active", Int.self).1!)
    for b in blocks { swallocFree(b) }
    XCTAssertLessThan(read("stats.allocated", Int.self).1!, during)
    let all = "arena.\(ctlArenasAll).purge"
    XCTAssertEqual(all.withCString { swallocCtl($0, nil, nil, nil, 0) }, 0)
    var dirty: UInt = 0
    for i in 0..<arenaCount { if let a = arenas[i] { dirty += a.pointee.dirty.pages + a.pointee.muzzy.pages } }
    XCTAssertEqual(dirty, 0, "purge leaves no dirty or muzzy pages")
  }

  func testGeometryMetadataDecayAndThreadArena() {
    XCTAssertEqual(read("arenas.page", Int.self).1, 4096)
    XCTAssertEqual(read("arenas.quantum", Int.self).1, 16)
    XCTAssertEqual(read("arenas.nbins", UInt32.self).1, UInt32(config.smallClassCount))
    XCTAssertEqual(read("arenas.tcache_max", Int.self).1, Int(config.opt.tcacheMax))
    XCTAssertEqual(read("arenas.bin.0.nregs", UInt32.self).1, 256, "16-byte regions in one page")
    XCTAssertEqual(read("arenas.bin.0.slab_size", Int.self).1, 4096)
    XCTAssertEqual(read("arenas.bin.99.nregs", UInt32.self).0, ENOENT)
    XCTAssertGreaterThan(read("stats.metadata", Int.self).1!, 0)
    XCTAssertEqual("arena.0.decay".withCString { swallocCtl($0, nil, nil, nil, 0) }, 0)
    XCTAssertEqual("arena.\(ctlArenasAll).decay".withCString { swallocCtl($0, nil, nil, nil, 0) }, 0)

    // thread.arena, on a thread of its own: move it to another arena and
    // check that its next blocks come from that arena's chunks.
    ensureArenas(3)
    XCTAssertGreaterThan(arenaCount, 2)
    nonisolated(unsafe) var outcome: (before: UInt32, target: UInt32, after: UInt32, inTarget: Bool, rc: Int32, bad: Int32) =
      (0, 0, 0, false, -1, -1)
    runJoinedThreads(1) { [self] _ in
      swallocFree(swallocMalloc(32))
      let before = read("thread.arena", UInt32.self).1!
      var target: UInt32 = before == 1 ? 2 : 1
      let rc = "thread.arena".withCString { swallocCtl($0, nil, nil, &target, 4) }
      var far = UInt32(arenaCount)
      let bad = "thread.arena".withCString { swallocCtl($0, nil, nil, &far, 4) }
      let after = read("thread.arena", UInt32.self).1!
      let blocks = (0..<300).map { _ in swallocMalloc(48)! }
      let inTarget = blocks.allSatisfy { chunkArena(UInt(bitPattern: $0)) == arenas[Int(target)] }
      blocks.forEach { swallocFree($0) }
      outcome = (before, target, after, inTarget, rc, bad)
    }
    XCTAssertEqual(outcome.rc, 0)
    XCTAssertEqual(outcome.bad, EFAULT)
    XCTAssertNotEqual(outcome.before, outcome.target)
    XCTAssertEqual(outcome.after, outcome.target)
    XCTAssertTrue(outcome.inTarget, "refills after the move come from the new arena")
  }

  /// thread.tcache.enabled: off returns the thread's cached blocks (the
  /// bin's regions in use drop) and frees go straight to the slabs; on again
  /// builds a new cache.
  func testThreadTcacheEnabled() {
    nonisolated(unsafe) var outcome: [String: Bool] = [:]
    runJoinedThreads(1) { [self] _ in
      var blocks = (0..<100).map { _ in swallocMalloc(80)! }
      blocks.forEach { swallocFree($0) }      // cached now
      outcome["enabled at first"] = read("thread.tcache.enabled", Bool.self).1 == true
      outcome["has a cache"] = currentTcache() != nil
      let allocatedBefore = read("thread.allocated", UInt64.self).1!
      var off = false
      outcome["write off"] = "thread.tcache.enabled".withCString { swallocCtl($0, nil, nil, &off, 1) } == 0
      outcome["thread.allocated kept its count"] = read("thread.allocated", UInt64.self).1! == allocatedBefore
      outcome["reads off"] = read("thread.tcache.enabled", Bool.self).1 == false
      outcome["cache gone"] = currentTcache() == nil
      blocks = (0..<10).map { _ in swallocMalloc(80)! }
      blocks.forEach { swallocFree($0) }
      outcome["still no cache"] = currentTcache() == nil
      var on = true
      outcome["write on"] = "thread.tcache.enabled".withCString { swallocCtl($0, nil, nil, &on, 1) } == 0
      swallocFree(swallocMalloc(80))
      outcome["cache again"] = currentTcache() != nil
      outcome["reads on"] = read("thread.tcache.enabled", Bool.self).1 == true
    }
    for (what, ok) in outcome.sorted(by: { $0.key < $1.key }) { XCTAssertTrue(ok, what) }
    XCTAssertEqual(outcome.count, 10)
  }

  /// A thread whose caching is off is bound to an arena as a cached one is
  /// (counted, released at its exit, its record recycled) and can be moved
  /// by thread.arena. It used to share arena 0 with every other such
  /// thread and could not move (thread.arena: EAGAIN).
  func testAThreadWithoutACacheIsBoundToAnArenaAndMovedByThreadArena() {
    ensureArenas(3)
    let before = boundThreads()
    nonisolated(unsafe) var outcome: [String: Bool] = [:]
    nonisolated(unsafe) var rc: Int32 = -1
    runJoinedThreads(1) { [self] _ in
      var off = false
      _ = "thread.tcache.enabled".withCString { swallocCtl($0, nil, nil, &off, 1) }
      swallocFree(swallocMalloc(48))
      outcome["no cache"] = currentTcache() == nil
      guard let u = currentUncached() else { outcome["bound"] = false; return }
      outcome["bound"] = true
      outcome["counted"] = boundThreads() == before + 1
      let own = read("thread.arena", UInt32.self).1!
      outcome["thread.arena reads its arena"] = own == u.pointee.arena.pointee.index
      var target: UInt32 = own == 1 ? 2 : 1
      rc = "thread.arena".withCString { swallocCtl($0, nil, nil, &target, 4) }
      outcome["moved"] = u.pointee.arena == arenas[Int(target)] && read("thread.arena", UInt32.self).1 == target
      outcome["pinned"] = u.pointee.spread.pinned
      let blocks = (0..<300).map { _ in swallocMalloc(48)! }
      outcome["blocks from the new arena"] = blocks.allSatisfy { chunkArena(UInt(bitPattern: $0)) == arenas[Int(target)] }
      blocks.forEach { swallocFree($0) }
      outcome["still counted once"] = boundThreads() == before + 1
    }
    XCTAssertEqual(rc, 0, "thread.arena on a thread without a cache")
    for (what, ok) in outcome.sorted(by: { $0.key < $1.key }) { XCTAssertTrue(ok, what) }
    XCTAssertEqual(outcome.count, 8)
    XCTAssertEqual(boundThreads(), before, "released at the thread's exit")
    XCTAssertNotNil(uncachedRecycle.head, "its record recycled")
  }

  /// thread.allocated / thread.deallocated against the usable sizes of every
  /// block a thread gets and gives back, through every entry point (fast
  /// paths, slow paths, uncached and huge blocks, in-place and moving
  /// resizes), on a thread of its own so nothing else moves its counters.
  func testThreadAllocatedAndDeallocatedCountEveryUsableByte() {
    nonisolated(unsafe) var result: (expected: (UInt64, UInt64), counted: (UInt64, UInt64)) = ((0, 0), (0, 0))
    let mainBefore = (read("thread.allocated", UInt64.self).1!, read("thread.deallocated", UInt64.self).1!)
    runJoinedThreads(1) { [self] _ in
      let start = (read("thread.allocated", UInt64.self).1!, read("thread.deallocated", UInt64.self).1!)
      var allocated: UInt64 = 0
      var freed: UInt64 = 0
      func got(_ p: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer {
        allocated += UInt64(swallocMallocUsableSize(p!))
        return p!
      }
      func giving(_ p: UnsafeMutableRawPointer) { freed += UInt64(swallocMallocUsableSize(p)) }
      /// A resize: nothing when the block keeps its usable size in place,
      /// else old freed and new allocated.
      func resized(_ old: UnsafeMutableRawPointer, _ oldUsable: UInt, _ new: UnsafeMutableRawPointer) {
        let newUsable = swallocMallocUsableSize(new)
        if new != old || newUsable != oldUsable {
          freed += UInt64(oldUsable)
          allocated += UInt64(newUsable)
        }
      }
      for i in 0..<3000 {
        let small = got(swallocMalloc(UInt(i % 500 + 1)))
        let cachedLarge = got(swallocMalloc(20_000))
        let zeroed = got(swallocCalloc(3, UInt(i % 100 + 1)))
        giving(small); swallocFree(small)
        giving(zeroed); swallocFreeSized(zeroed, 3 * UInt(i % 100 + 1))
        var aligned: UnsafeMutableRawPointer? = nil
        XCTAssertEqual(swallocPosixMemalign(&aligned, i % 2 == 0 ? 64 : 8192, 300), 0)
        _ = got(aligned)
        giving(aligned!); swallocFree(aligned)
        // Growing realloc: moves from small to large, or grows in place.
        let r = got(swallocMalloc(100))
        let rUsable = swallocMallocUsableSize(r)
        let r2 = swallocRealloc(r, 40_000)!
        resized(r, rUsable, r2)
        let r2Usable = swallocMallocUsableSize(r2)
        let r3 = swallocRealloc(r2, 90_000)!
        resized(r2, r2Usable, r3)
        giving(r3); swallocFree(r3)
        giving(cachedLarge); swallocFree(cachedLarge)
        if i % 100 == 0 {
          let uncached = got(swallocMalloc(1 << 20))
          let huge = got(swallocMalloc(5 << 20))
          let hugeUsable = swallocMallocUsableSize(huge)
          let hugeGrown = swallocRealloc(huge, 9 << 20)!
          resized(huge, hugeUsable, hugeGrown)
          let x = got(swallocMallocx(40_000, 0x40 | (1 << 8)))
          let xUsable = swallocMallocUsableSize(x)
          let xGrown = swallocXallocx(x, 60_000, 0, 0)
          resized(x, xUsable, x)
          XCTAssertEqual(xGrown, swallocMallocUsableSize(x))
          let y = got(swallocMallocx(50_000, 13))
          let yUsable = swallocMallocUsableSize(y)
          let y2 = swallocRallocx(y, 70_000, 13)!
          resized(y, yUsable, y2)
          giving(uncached); swallocDallocx(uncached, 1 << 8)
          giving(hugeGrown); swallocFree(hugeGrown)
          giving(x); swallocSdallocx(x, swallocMallocUsableSize(x), 0)
          giving(y2); swallocFree(y2)
        }
      }
      let end = (read("thread.allocated", UInt64.self).1!, read("thread.deallocated", UInt64.self).1!)
      result = ((allocated, freed), (end.0 &- start.0, end.1 &- start.1))
    }
    XCTAssertGreaterThan(result.expected.0, 100_000_000)
    XCTAssertEqual(result.counted.0, result.expected.0, "thread.allocated")
    XCTAssertEqual(result.counted.1, result.expected.1, "thread.deallocated")
    XCTAssertEqual(read("thread.allocated", UInt64.self).1!, mainBefore.0, "another thread's work")
    XCTAssertEqual(read("thread.deallocated", UInt64.self).1!, mainBefore.1, "another thread's work")
    XCTAssertEqual(read("thread.allocatedX", UInt64.self).0, ENOENT)
  }
}

final class MibTests: XCTestCase {
  override func setUp() { XCTAssertTrue(ensureBooted()) }

  private func mib(_ name: String) -> (Int32, [Int]) {
    var buffer = [Int](repeating: -1, count: 6)
    var length = buffer.count
    let rc = name.withCString { n in buffer.withUnsafeMutableBufferPointer { swallocMallctlnametomib(n, $0.baseAddress, &length) } }
    return (rc, Array(buffer.prefix(rc == 0 ? length : 0)))
  }

  func testNameToMibAndBack() {
    let (rc, purge) = mib("arena.0.purge")
    XCTAssertEqual(rc, 0)
    XCTAssertEqual(purge.count, 3)
    XCTAssertEqual(purge[1], 0, "numeric components are the numbers themselves")
    // Reuse the MIB for another arena, as jemalloc users do.
    var all = purge
    all[1] = ctlArenasAll
    XCTAssertEqual(all.withUnsafeBufferPointer { swallocMallctlbymib($0.baseAddress, 3, nil, nil, nil, 0) }, 0)

    let (rc2, allocated) = mib("stats.allocated")
    XCTAssertEqual(rc2, 0)
    var value = 0
    var length = 8
    XCTAssertEqual(allocated.withUnsafeBufferPointer { swallocMallctlbymib($0.baseAddress, 2, &value, &length, nil, 0) }, 0)
    var direct = 0
    XCTAssertEqual("stats.allocated".withCString { swallocCtl($0, &direct, &length, nil, 0) }, 0)
    XCTAssertEqual(value, direct)

    let (rc3, bin) = mib("arenas.bin.5.size")
    XCTAssertEqual(rc3, 0)
    XCTAssertEqual(bin.withUnsafeBufferPointer { swallocMallctlbymib($0.baseAddress, 4, &value, &length, nil, 0) }, 0)
    XCTAssertEqual(value, 96)

    // thread.deallocated by MIB: the same value as by name (no frees between).
    let (rc4, deallocated) = mib("thread.deallocated")
    XCTAssertEqual(rc4, 0)
    var counter: UInt64 = 0
    XCTAssertEqual(deallocated.withUnsafeBufferPointer { swallocMallctlbymib($0.baseAddress, 2, &counter, &length, nil, 0) }, 0)
    var counterDirect: UInt64 = 1
    XCTAssertEqual("thread.deallocated".withCString { swallocCtl($0, &counterDirect, &length, nil, 0) }, 0)
    XCTAssertEqual(counter, counterDirect)

    // A name with the newer words, reused for another bin as jemalloc users do.
    var (rc5, nregs) = mib("arenas.bin.3.nregs")
    XCTAssertEqual(rc5, 0)
    nregs[2] = 0
    var regions: UInt32 = 0
    var regionsLength = 4
    XCTAssertEqual(nregs.withUnsafeBufferPointer { swallocMallctlbymib($0.baseAddress, 4, &regions, &regionsLength, nil, 0) }, 0)
    XCTAssertEqual(regions, 256)

    XCTAssertEqual(mib("stats.nonsense").0, ENOENT)
    XCTAssertEqual(mib("arena.x.purge").0, ENOENT)
    XCTAssertEqual(mib("opt").0, ENOENT, "a prefix is not a name")
    let bogus = [99, 1]
    XCTAssertEqual(bogus.withUnsafeBufferPointer { swallocMallctlbymib($0.baseAddress, 2, nil, nil, nil, 0) }, ENOENT)
  }
}

final class MallinfoTests: XCTestCase {
  func testMallinfo2AgreesWithCtlStatistics() {
    XCTAssertTrue(ensureBooted())
    let blocks = (0..<50).map { _ in swallocMalloc(3000)! }
    let huge = swallocMalloc(6 << 20)!
    let m = swallocMallinfo2()
    var allocated = 0
    var length = 8
    XCTAssertEqual("stats.allocated".withCString { swallocCtl($0, &allocated, &length, nil, 0) }, 0)
    XCTAssertEqual(m.uordblks + m.hblkhd, allocated, "small + large + huge, from the same counters")
    XCTAssertGreaterThanOrEqual(m.hblks, 1)
    XCTAssertGreaterThanOrEqual(m.hblkhd, 6 << 20)
    XCTAssertEqual(m.arena, m.uordblks + m.fordblks)
    for b in blocks { swallocFree(b) }
    swallocFree(huge)
  }
}

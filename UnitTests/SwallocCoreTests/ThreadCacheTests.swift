import XCTest
@testable import SwallocCore
import CSwallocPlatform
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

final class ThreadCacheTests: XCTestCase {
  override func setUp() { XCTAssertTrue(ensureBooted()) }

  /// The free fast path reads *head even for an empty stack: the slot past
  /// every stack's end must hold nil, also in a recycled block whose memory
  /// held pointers before, and stay nil through fills and flushes.
  func testEveryStackEndsInANilSentinel() {
    let arena = makePrivateArena()
    let first = tcacheCreate(arena: arena)!
    // Dirty the whole block, then recycle it into a new cache.
    memset(UnsafeMutableRawPointer(first), 0xAB, Int(config.tcacheBlockSize))
    recyclePush(&tcacheRecycle, &tcacheRecycleLock, UnsafeMutableRawPointer(first))
    let t = tcacheCreate(arena: arena)!
    XCTAssertEqual(t, first, "the recycled block was reused")
    for code in 0..<tcacheBinCount {
      let bin = tcacheBin(forCode: code, t)
      XCTAssertNil(bin.pointee.end.pointee, "code \(code)")
      XCTAssertEqual(bin.pointee.head, bin.pointee.end)
    }
    let sizeClass = classIndexFor(64)
    let bin = tcacheBin(t, sizeClass)
    var regions = [UnsafeMutableRawPointer?](repeating: nil, count: Int(bin.pointee.capacity))
    XCTAssertEqual(binFill(arena, sizeClass: sizeClass, into: &regions, want: regions.count), regions.count)
    for r in regions { XCTAssertTrue(bin.push(r!)) }
    XCTAssertFalse(bin.push(regions[0]!), "full")
    tcacheFlush(t, sizeClass: sizeClass, keep: 0)
    XCTAssertNil(bin.pointee.end.pointee)
    XCTAssertNil(tcacheBin(t, sizeClass &+ 1).pointee.end.pointee)
  }


  /// A refill reserves at most tcacheRefillBudget bytes of slab: a thread
  /// that wants one 15 KiB block got 10 before (150 KiB of a chunk, which
  /// split the first chunk of bench realloc-grow and cost it 2 MiB of RSS).
  func testARefillReservesAtMost32KiBOfRegions() {
    let arena = makePrivateArena()
    let t = tcacheCreate(arena: arena)!
    for c in 0..<config.smallClassCount {
      let bin = tcacheBin(t, c)
      let size = UInt(config.binInfos[c].regionSize)
      XCTAssertGreaterThanOrEqual(bin.pointee.fill, 1)
      XCTAssertLessThanOrEqual(bin.pointee.fill, max(bin.pointee.capacity / 2, 1))
      XCTAssertTrue(UInt(bin.pointee.fill) * size <= tcacheRefillBudget || bin.pointee.fill == 1, "class \(size)")
    }
    let big = classIndexFor(15000)
    XCTAssertEqual(tcacheFill(sizeClass: big, capacity: tcacheBin(t, big).pointee.capacity),
                   UInt32(tcacheRefillBudget / sizeClassSize(big)), "its full refill: two 15 KiB regions")
    let p = tcacheRefillAndPop(t, sizeClass: big)
    XCTAssertNotNil(p)
    XCTAssertEqual(tcacheBin(t, big).count, 0, "a new stack's first refill: one region")
    let small = classIndexFor(64)
    XCTAssertEqual(tcacheFill(sizeClass: small, capacity: tcacheBin(t, small).pointee.capacity),
                   tcacheBin(t, small).pointee.capacity / 2, "small classes still refill half their stack")
    XCTAssertTrue(tcacheBin(t, big).push(p!))
    tcacheFlush(t, sizeClass: big, keep: 0)
  }

  /// A new stack's first tcacheLightRefills (8) refills take its first
  /// fill (a cache line's worth: 2 regions of 32 B), then each refill
  /// doubles it up to the full size (half the stack), where it stays: a
  /// thread that makes a few blocks of a class no longer reserves 100 of
  /// them. Refills of up to 8 regions stay in the stack's dense slot; the
  /// first of 16 moves it to its full slot (tcacheDenseCapacity).
  func testANewStacksRefillsTakeALineEightTimesThenDoubleToTheirFullSize() {
    ensureProcessHasHadThreads()
    let arena = makePrivateArena()
    let t = tcacheCreate(arena: arena)!
    let sizeClass = classIndexFor(32)
    let bin = tcacheBin(t, sizeClass)
    let base = config.tcacheBaseCapacities[sizeClass]
    let full = tcacheFill(sizeClass: sizeClass, capacity: base)
    XCTAssertEqual(full, min(base / 2, UInt32(tcacheRefillBudget / 32)))
    XCTAssertGreaterThan(full, 64, "the 32 B class refills more than 64 regions when ramped")
    XCTAssertEqual(tcacheLightRefills, 8)
    var blocks: [UnsafeMutableRawPointer] = []
    var expected: UInt32 = 2
    XCTAssertEqual(bin.pointee.fill, expected, "a cache line's worth of 32 B regions")
    var refills = 0
    var moved = false
    while true {
      while let p = bin.pop() { blocks.append(p) }
      blocks.append(tcacheRefillAndPop(t, sizeClass: sizeClass)!)
      refills += 1
      XCTAssertEqual(bin.count, Int(expected) - 1, "refill \(refills) took \(expected) regions")
      moved = moved || expected > tcacheDenseCapacity / 2
      XCTAssertEqual(tcacheInDenseSlot(t, bin), !moved, "refill \(refills): in the dense slot")
      XCTAssertEqual(bin.pointee.capacity, moved ? base : tcacheDenseCapacity)
      if expected == full { break }
      if refills >= Int(tcacheLightRefills) { expected = min(expected * 2, full) }
      XCTAssertEqual(bin.pointee.fill, expected)
    }
    XCTAssertEqual(refills, 14, "8 of 2, then 4, 8, 16, 32, 64 and the full size")
    XCTAssertEqual(bin.pointee.fill, full)
    XCTAssertNotEqual(bin.pointee.refilled & tcacheFillRamped, 0)
    // An overflow keeps it ramped: fill the stack with the blocks taken.
    var pending = blocks
    while let p = pending.popLast() {
      if !bin.push(p) { pending.append(p); break }
    }
    XCTAssertFalse(pending.isEmpty, "more blocks were taken than the stack holds")
    tcacheOverflow(t, sizeClass: sizeClass)
    XCTAssertNotEqual(bin.pointee.refilled & tcacheFillRamped, 0, "an overflow keeps the full refill size")
    XCTAssertEqual(bin.pointee.fill, full)
    for p in pending where !bin.push(p) {
      tcacheFlush(t, sizeClass: sizeClass, keep: 0)
      XCTAssertTrue(bin.push(p))
    }
    tcacheFlush(t, sizeClass: sizeClass, keep: 0)
    XCTAssertEqual((arena.pointee.bins + sizeClass).pointee.regionsInUse, 0, "every region went home")
  }

  /// A thread that makes a few blocks of a class takes no more regions
  /// from its bin than it makes: with refills doubling from the first one,
  /// 8 blocks of 640 B took 2 + 4 + 8 = 14 regions, and the 6 left over
  /// stayed in the cache, on slab pages other threads' blocks keep
  /// resident (`workloads many-threads 64`: 9769 regions for 6400 blocks).
  func testAThreadMakingAFewBlocksOfAClassTakesOnlyThoseRegions() {
    ensureProcessHasHadThreads()
    let arena = makePrivateArena()
    let t = tcacheCreate(arena: arena)!
    let sizeClass = classIndexFor(640)
    XCTAssertEqual(slabLineRegions(sizeClass: sizeClass), 1)
    let bin = tcacheBin(t, sizeClass)
    var blocks: [UnsafeMutableRawPointer] = []
    for _ in 0..<8 { blocks.append(bin.pop() ?? tcacheRefillAndPop(t, sizeClass: sizeClass)!) }
    XCTAssertEqual(arena.pointee.bins[sizeClass].regionsInUse, 8, "regions taken for 8 blocks")
    for p in blocks { XCTAssertTrue(bin.push(p)) }
    tcacheFlush(t, sizeClass: sizeClass, keep: 0)
    XCTAssertEqual(arena.pointee.bins[sizeClass].regionsInUse, 0, "every region went home")
  }

  /// Every refill of a small class, from the first through the ramp to the
  /// full size, is a whole number of cache lines' worth of regions
  /// (slabLineRegions, the fewest that are), so that threads refilling
  /// from one fresh slab never get blocks on a common line.
  func testSmallClassRefillsCoverWholeCacheLines() {
    for c in 0..<config.smallClassCount {
      let size = UInt(config.binInfos[c].regionSize)
      let line = slabLineRegions(sizeClass: c)
      XCTAssertEqual(UInt(line) &* size % cacheLineBytes, 0, "class \(c) (\(size) B): \(line) regions fill lines")
      if line > 1 {
        XCTAssertNotEqual(UInt(line / 2) &* size % cacheLineBytes, 0, "class \(c): \(line) is the fewest")
      }
      var fill = tcacheFirstFill(sizeClass: c, capacity: config.tcacheBaseCapacities[c])
      let most = tcacheFill(sizeClass: c, capacity: config.tcacheBaseCapacities[c])
      XCTAssertEqual(most % line, 0, "class \(c): full refill of \(most)")
      while true {
        XCTAssertEqual(fill % line, 0, "class \(c): a refill of \(fill)")
        if fill >= most { break }
        fill = min(fill &* 2, most)
      }
    }
  }

  /// A thread that makes a block or two of many classes writes its stacks'
  /// entries within a couple of pages of its cache block: each stack starts
  /// in its dense slot (tcacheDenseCapacity). Before, each class's first
  /// entries went to the top of its full slot, 1-1.6 KiB apart for the
  /// classes up to 512 B, and such a thread touched most of its ~30 KiB
  /// block (base memory resident at the exit of `workloads many-threads
  /// 16`: 568-572 KiB, 364-380 now).
  func testLightlyUsedStacksShareAFewPagesOfTheirBlock() {
    let arena = makePrivateArena()
    let t = tcacheCreate(arena: arena)!
    var pages = Set<UInt>()
    var classes = 0
    var blocks: [(Int, UnsafeMutableRawPointer)] = []
    for c in 0..<config.smallClassCount where sizeClassSize(c) <= 1024 {
      // (The refill may take just the one block: it goes back on the
      // stack, as a free would put it.)
      let p = tcacheRefillAndPop(t, sizeClass: c)!
      let bin = tcacheBin(t, c)
      if bin.count == 0 { XCTAssertTrue(bin.push(p)) } else { blocks.append((c, p)) }
      XCTAssertGreaterThan(bin.count, 0)
      var slot = bin.pointee.head
      while slot < bin.pointee.end { pages.insert(UInt(bitPattern: slot) >> 12); slot += 1 }
      classes += 1
    }
    XCTAssertGreaterThanOrEqual(classes, 20)
    XCTAssertLessThanOrEqual(pages.count, 2, "\(classes) classes' entries on \(pages.count) pages")
    for (c, p) in blocks { XCTAssertTrue(tcacheBin(t, c).push(p)) }
    for c in 0..<config.smallClassCount { tcacheFlush(t, sizeClass: c, keep: 0) }
  }

  /// A stack moves from its dense slot to its full slot when it overflows
  /// there, with its own entries (in their order, the latest on top) and
  /// its foreign ones (at its bottom, under the fast path's limit), and
  /// then has its base capacity; the slots past both ends stay nil.
  func testAStackLeavesItsDenseSlotWithItsEntriesWhenItOverflows() {
    let (owner, _, sizeClass, foreign, _) = foreignRegions(3)
    let arena = makePrivateArena()
    let t = tcacheCreate(arena: arena)!
    let bin = tcacheBin(t, sizeClass)
    XCTAssertTrue(tcacheInDenseSlot(t, bin))
    XCTAssertEqual(bin.pointee.capacity, tcacheDenseCapacity)
    let denseEnd = bin.pointee.end
    for r in foreign { XCTAssertTrue(bin.pushForeign(r!)) }
    var own = [UnsafeMutableRawPointer?](repeating: nil, count: Int(tcacheDenseCapacity) - foreign.count)
    XCTAssertEqual(binFill(arena, sizeClass: sizeClass, into: &own, want: own.count), own.count)
    for r in own { XCTAssertTrue(bin.push(r!, floor: bin.localFloor(sizeClass: sizeClass))) }
    XCTAssertFalse(bin.push(own[0]!, floor: bin.localFloor(sizeClass: sizeClass)), "the dense slot is full")
    tcacheOverflow(t, sizeClass: sizeClass)
    XCTAssertFalse(tcacheInDenseSlot(t, bin))
    XCTAssertEqual(bin.pointee.capacity, config.tcacheBaseCapacities[sizeClass])
    XCTAssertEqual(bin.count, own.count, "nothing was flushed")
    XCTAssertEqual(bin.foreignCount(sizeClass: sizeClass), foreign.count)
    for (i, r) in foreign.enumerated() { XCTAssertEqual(bin.pointee.start[i], r) }
    XCTAssertNil(bin.pointee.end.pointee)
    XCTAssertNil(denseEnd.pointee)
    XCTAssertNil(bin.pointee.start[-1], "start[-1] is the previous stack's sentinel")
    for r in own.reversed() { XCTAssertEqual(bin.pop(), r, "the latest entry on top") }
    XCTAssertNil(bin.pop())
    for r in own { XCTAssertTrue(bin.push(r!, floor: bin.localFloor(sizeClass: sizeClass))) }
    tcacheFlush(t, sizeClass: sizeClass, keep: 0)
    XCTAssertEqual(owner.pointee.bins[sizeClass].regionsInUse, 0, "the foreign regions went home")
    XCTAssertEqual(arena.pointee.bins[sizeClass].regionsInUse, 0, "and the own ones")
  }

  /// A class whose full refill fits the dense slot (1 KiB: 16 regions)
  /// finishes its ramp there and stays; its first overflow still moves it
  /// to its full slot, and no stack around it is written. (Skipping the
  /// move for a ramped stack let a swing grow it below its dense slot,
  /// over the stacks before it: bench aligned got misaligned blocks.)
  func testAStackThatRampedInItsDenseSlotStillMovesWhenItOverflows() {
    ensureProcessHasHadThreads()
    let arena = makePrivateArena()
    let t = tcacheCreate(arena: arena)!
    let sizeClass = classIndexFor(1024)
    let bin = tcacheBin(t, sizeClass)
    let full = tcacheFill(sizeClass: sizeClass, capacity: config.tcacheBaseCapacities[sizeClass])
    XCTAssertGreaterThan(full, tcacheDenseCapacity / 2)
    XCTAssertLessThanOrEqual(full, tcacheDenseCapacity, "the full refill fits the dense slot")
    var blocks: [UnsafeMutableRawPointer] = []
    for _ in 0..<(Int(tcacheLightRefills) + 4) {   // 8 of 1, then 2, 4, 8 and the full 16
      while let p = bin.pop() { blocks.append(p) }
      blocks.append(tcacheRefillAndPop(t, sizeClass: sizeClass)!)
    }
    XCTAssertNotEqual(bin.pointee.refilled & tcacheFillRamped, 0, "ramped")
    XCTAssertTrue(tcacheInDenseSlot(t, bin), "and still in its dense slot")
    XCTAssertEqual(bin.count, Int(full) - 1)
    let below = tcacheBin(t, sizeClass - 1)
    let belowEnd = below.pointee.end
    // Two swings between empty and full in a row would grow it in place.
    while let p = blocks.last, bin.push(p) { blocks.removeLast() }
    XCTAssertEqual(bin.count, Int(tcacheDenseCapacity), "full")
    tcacheOverflow(t, sizeClass: sizeClass)
    XCTAssertFalse(tcacheInDenseSlot(t, bin))
    XCTAssertEqual(bin.pointee.capacity, config.tcacheBaseCapacities[sizeClass])
    XCTAssertNil(belowEnd.pointee, "the stack below kept its sentinel")
    XCTAssertEqual(below.pointee.end, belowEnd)
    for p in blocks where !bin.push(p) {
      tcacheFlush(t, sizeClass: sizeClass, keep: 0)
      XCTAssertTrue(bin.push(p))
    }
    tcacheFlush(t, sizeClass: sizeClass, keep: 0)
    XCTAssertEqual(arena.pointee.bins[sizeClass].regionsInUse, 0, "every region went home")
  }

  /// A thread that only makes light slow-path allocations (nothing that
  /// refills or overflows a stack) still gets its idle stacks collected:
  /// once a second, every 16th slow-path allocation makes a pass. Before,
  /// such a thread kept every cached block, each pinning a slab (memtruth
  /// table rows: 14 MiB resident after a free-all, 9 MiB with the pass).
  func testIdlePassCollectsStacksTheThreadStoppedUsing() {
    let t = tsdFetchTcache()!
    let sizeClass = classIndexFor(96)
    let bin = tcacheBin(t, sizeClass)
    var blocks: [UnsafeMutableRawPointer] = []
    for _ in 0..<Int(bin.pointee.capacity) { blocks.append(swallocMalloc(96)!) }
    for p in blocks { swallocFree(p) }
    let before = bin.count
    XCTAssertGreaterThan(before, 8)
    // Neither run empty since the last look, nor a second since the last pass.
    bin.pointee.refilled = 0
    t.pointee.idlePassMs = UInt32(truncatingIfNeeded: monotonicMs()) &- 5000
    t.pointee.idleEvents = 0
    for _ in 0..<Int(tcacheIdleCheckEvery) - 1 { tcacheIdleTick() }
    XCTAssertEqual(bin.count, before, "no pass before the 16th slow path")
    tcacheIdleTick()
    XCTAssertEqual(bin.count, before >> 2, "the pass keeps a quarter")
    // A stack that ran empty since the previous look keeps everything.
    let kept = bin.count
    bin.pointee.refilled = 1
    t.pointee.idlePassMs = UInt32(truncatingIfNeeded: monotonicMs()) &- 5000
    for _ in 0..<Int(tcacheIdleCheckEvery) { tcacheIdleTick() }
    XCTAssertEqual(bin.count, kept)
    // At most one pass a second.
    bin.pointee.refilled = 0
    for _ in 0..<Int(tcacheIdleCheckEvery) { tcacheIdleTick() }
    XCTAssertEqual(bin.count, kept)
  }

  /// `count` regions of 48 bytes taken from a private arena's bin, and an
  /// empty thread cache bound to another private arena.
  private func foreignRegions(_ count: Int) -> (owner: UnsafeMutablePointer<Arena>, bin: UnsafeMutablePointer<Bin>,
                                                 sizeClass: Int, regions: [UnsafeMutableRawPointer?],
                                                 cache: UnsafeMutablePointer<Tcache>) {
    let owner = makePrivateArena()
    let sizeClass = classIndexFor(48)
    var regions = [UnsafeMutableRawPointer?](repeating: nil, count: count)
    XCTAssertEqual(binFill(owner, sizeClass: sizeClass, into: &regions, want: count), count)
    XCTAssertEqual(owner.pointee.bins[sizeClass].regionsInUse, UInt(count))
    return (owner, owner.pointee.bins + sizeClass, sizeClass, regions, tcacheCreateFullSize(arena: makePrivateArena())!)
  }

  func testFlushSendsForeignRegionsToTheOwnersRemoteStackWithoutItsLock() {
    let (owner, bin, sizeClass, regions, t) = foreignRegions(50)
    // A thread cache bound to the other arena caches and then flushes them.
    let cacheBin = tcacheBin(t, sizeClass)
    for r in regions { XCTAssertTrue(cacheBin.push(r!)) }
    mutexLock(&bin.pointee.lock)   // the owner's bin lock is held throughout
    tcacheFlush(t, sizeClass: sizeClass, keep: 0)
    XCTAssertEqual(cacheBin.count, 0)
    XCTAssertNotEqual(bin.pointee.remoteFrees, 0, "the batch sits on the owner's remote stack")
    XCTAssertEqual(bin.pointee.regionsInUse, 50, "not yet returned to the slabs")
    mutexUnlock(&bin.pointee.lock)

    // The owner's next refill drains the stack first.
    var one: UnsafeMutableRawPointer? = nil
    XCTAssertEqual(binFill(owner, sizeClass: sizeClass, into: &one, want: 1), 1)
    XCTAssertEqual(bin.pointee.remoteFrees, 0)
    XCTAssertEqual(bin.pointee.regionsInUse, 1)
    XCTAssertEqual(bin.pointee.frees, 50)
  }

  /// With the owner's bin lock free, a flush returns foreign regions to
  /// their slabs at once (no remote chain written into them); with
  /// remote_queue:true it never takes the foreign lock.
  func testFlushReturnsForeignRegionsDirectlyWhenTheOwnersLockIsFree() {
    let (owner, bin, sizeClass, regions, t) = foreignRegions(40)
    let cacheBin = tcacheBin(t, sizeClass)
    for r in regions[0..<20] { XCTAssertTrue(cacheBin.push(r!)) }
    tcacheFlush(t, sizeClass: sizeClass, keep: 0)
    XCTAssertEqual(bin.pointee.remoteFrees, 0, "no chain: the regions went straight back")
    XCTAssertEqual(bin.pointee.regionsInUse, 20)
    XCTAssertEqual(bin.pointee.frees, 20)

    config.opt.remoteQueue = true
    defer { config.opt.remoteQueue = false }
    for r in regions[20..<40] { XCTAssertTrue(cacheBin.push(r!)) }
    tcacheFlush(t, sizeClass: sizeClass, keep: 0)
    XCTAssertNotEqual(bin.pointee.remoteFrees, 0, "remote_queue:true: onto the owner's remote stack")
    XCTAssertEqual(bin.pointee.regionsInUse, 20)
    var one: UnsafeMutableRawPointer? = nil
    XCTAssertEqual(binFill(owner, sizeClass: sizeClass, into: &one, want: 1), 1)
    XCTAssertEqual(bin.pointee.regionsInUse, 1)
    XCTAssertEqual(bin.pointee.frees, 40)
  }

  /// A thread's free of another arena's small block keeps the block apart
  /// from those its malloc hands out (at the bottom of the class's stack)
  /// until a flush sends it home. Before, the thread's next malloc of the
  /// class took it, and both threads' blocks spread over both arenas'
  /// slabs (bench larson peak RSS 5.9 -> 4.7 MiB).
  func testAFreedBlockOfAnotherArenaIsNotHandedOutByTheFreeingThread() {
    let (owner, bin, sizeClass, regions, _) = foreignRegions(4)
    let t = tsdFetchTcache()!
    XCTAssertNotEqual(t.pointee.arena, owner)
    // Neither the idle pass (at most once a second, on the 16th slow-path
    // allocation) nor a collector step may send the foreign entries home
    // during the mallocs below: either did, 1 run in about 40.
    t.pointee.idlePassMs = UInt32(truncatingIfNeeded: monotonicMs())
    t.pointee.gcEvents = 0
    let cacheBin = tcacheBin(t, sizeClass)
    tcacheFlush(t, sizeClass: sizeClass, keep: 0)
    for r in regions { swallocFree(r) }
    XCTAssertEqual(cacheBin.foreignCount(sizeClass: sizeClass), 4, "kept as foreign entries")
    XCTAssertEqual(cacheBin.count, 0, "none among the stack's own")
    var mine: [UnsafeMutableRawPointer] = []
    for _ in 0..<8 { mine.append(swallocMalloc(48)!) }
    for p in mine { XCTAssertFalse(regions.contains(p), "malloc handed out another arena's freed block") }
    for p in mine { swallocFree(p) }
    XCTAssertEqual(bin.pointee.regionsInUse, 4)
    tcacheFlush(t, sizeClass: sizeClass, keep: 0)
    XCTAssertEqual(cacheBin.foreignCount(sizeClass: sizeClass), 0)
    XCTAssertEqual(bin.pointee.regionsInUse, 0, "the flush sent them home")
  }

  /// Foreign entries fill at most half a stack: the free that would pass
  /// that sends them home (with the stack's older half) and is kept itself.
  func testForeignEntriesGoHomeWhenTheyFillHalfTheStack() {
    let t = tsdFetchTcache()!
    let sizeClass = classIndexFor(48)
    let cacheBin = tcacheBin(t, sizeClass)
    let half = Int(cacheBin.pointee.capacity) / 2
    let (_, bin, _, regions, _) = foreignRegions(half + 1)
    tcacheFlush(t, sizeClass: sizeClass, keep: 0)
    for r in regions[0..<half] { swallocFree(r) }
    XCTAssertEqual(cacheBin.foreignCount(sizeClass: sizeClass), half)
    XCTAssertEqual(bin.pointee.regionsInUse, UInt(half + 1))
    swallocFree(regions[half])
    XCTAssertEqual(cacheBin.foreignCount(sizeClass: sizeClass), 1)
    XCTAssertEqual(bin.pointee.regionsInUse, 1, "the first half went home")
    // A refill needs the stack's slots above them.
    XCTAssertNotNil(tcacheRefillAndPop(t, sizeClass: sizeClass).map { swallocFree($0) })
    tcacheFlush(t, sizeClass: sizeClass, keep: 0)
    XCTAssertEqual(bin.pointee.regionsInUse, 0)
  }

  /// Above tcacheForeignMaxSize another arena's block joins the freeing
  /// thread's own entries and is reused, as large runs are (their stacks
  /// are too short for a foreign half).
  func testForeignBlocksAboveTheLimitJoinTheThreadsOwnEntries() {
    let owner = makePrivateArena()
    let sizeClass = classIndexFor(8192)
    XCTAssertGreaterThan(sizeClassSize(sizeClass), tcacheForeignMaxSize)
    var regions = [UnsafeMutableRawPointer?](repeating: nil, count: 2)
    XCTAssertEqual(binFill(owner, sizeClass: sizeClass, into: &regions, want: 2), 2)
    let t = tsdFetchTcache()!
    let cacheBin = tcacheBin(t, sizeClass)
    tcacheFlush(t, sizeClass: sizeClass, keep: 0)
    for r in regions { swallocFree(r) }
    XCTAssertEqual(cacheBin.count, 2)
    XCTAssertEqual(cacheBin.foreignCount(sizeClass: sizeClass), 0)
    let again = swallocMalloc(8192)
    XCTAssertEqual(again, regions[1], "reused by the freeing thread")
    swallocFree(again)
    tcacheFlush(t, sizeClass: sizeClass, keep: 0)
    XCTAssertEqual(owner.pointee.bins[sizeClass].regionsInUse, 0)
  }

  /// A burst of frees of one class longer than its stack (two overflows
  /// in a run of frees) ends at the next refill of another class: the
  /// run's last blocks, which the stack still holds, go back to their
  /// slabs then (tcacheEndFreeRun), not at the collector's visit, and the
  /// class's spare slabs to the arena. A run of one overflow, or a stack
  /// popped since its run, keeps its blocks.
  func testALongRunOfFreesEndsAtTheNextRefillOfAnotherClass() {
    nonisolated(unsafe) var outcome: [String: Bool] = [:]
    runJoinedThreads(1) { _ in
      let sizeA = 200, sizeB = 700, sizeC = 16   // C: class 0
      swallocFree(swallocMalloc(32))   // the thread's cache
      guard let t = currentTcache() else { outcome["a cache"] = false; return }
      let classA = classIndexFor(UInt(sizeA))
      let stackA = tcacheBin(t, classA)
      let binA = t.pointee.arena.pointee.bins + classA
      let capacity = Int(config.tcacheCapacities[classA])
      // Two overflows in the run: 3 x capacity frees.
      var blocks = (0..<capacity * 3).map { _ in swallocMalloc(UInt(sizeA))! }
      for b in blocks { swallocFree(b) }
      outcome["the run's last blocks stay until another class refills"] = stackA.count > 0
      outcome["the bin keeps spare slabs meanwhile"] = binA.pointee.spareCount > 0
      swallocFree(swallocMalloc(UInt(sizeB)))   // a refill of another class
      outcome["then they go back"] = stackA.count == 0 && binA.pointee.regionsInUse == 0
      outcome["and the class's spare slabs with them"] = binA.pointee.spareCount == 0 && binA.pointee.spare == nil
      // One overflow in the run of frees: 2 x capacity frees overflow
      // twice, the first time with pops since the stack's last refill (no
      // run yet). Class 0, whose first overflow in a run is encoded apart
      // from "no run" (-1).
      let classC = classIndexFor(UInt(sizeC))
      XCTAssertEqual(classC, 0)
      let stackC = tcacheBin(t, classC)
      let capacityC = Int(config.tcacheCapacities[classC])
      blocks = (0..<capacityC * 2).map { _ in swallocMalloc(UInt(sizeC))! }
      for b in blocks { swallocFree(b) }
      let kept = stackC.count
      swallocFree(swallocMalloc(UInt(sizeA)))   // a refill of class A
      outcome["a run of one overflow keeps its blocks"] = kept > 0 && stackC.count == kept
      // A long run, then a pop of its class: no longer a run.
      blocks = (0..<capacity * 3).map { _ in swallocMalloc(UInt(sizeA))! }
      for b in blocks { swallocFree(b) }
      swallocFree(swallocMalloc(UInt(sizeA)))
      let keptA = stackA.count
      swallocFree(swallocMalloc(UInt(sizeC) * 2))   // a refill of a third class
      outcome["a stack popped since its run keeps its blocks"] = keptA > 0 && stackA.count == keptA
    }
    for (what, ok) in outcome.sorted(by: { $0.key < $1.key }) { XCTAssertTrue(ok, what) }
    XCTAssertEqual(outcome.count, 6)
  }

  /// Mallocs that find their stack empty refill it from mallocSlow
  /// (mallocRefill) as they did through mallocSlowRest and allocateClass:
  /// every block counted once in thread.allocated, all distinct, and the
  /// bin's regions in use are the blocks handed out and those the stack
  /// holds.
  func testMallocsThatFindTheirStackEmptyRefillAndCountEveryBlock() {
    nonisolated(unsafe) var outcome: [String: Bool] = [:]
    runJoinedThreads(1) { _ in
      let size = 300
      let sizeClass = classIndexFor(UInt(size))
      let classSize = UInt64(sizeClassSize(sizeClass))
      swallocFree(swallocMalloc(32))   // the thread's cache
      guard let t = currentTcache() else { outcome["a cache"] = false; return }
      let stack = tcacheBin(t, sizeClass)
      let bin = t.pointee.arena.pointee.bins + sizeClass
      let inUseBefore = bin.pointee.regionsInUse
      let n = Int(config.tcacheCapacities[sizeClass]) * 3
      let before = threadByteCounts()
      let blocks = (0..<n).map { _ in swallocMalloc(UInt(size))! }
      let after = threadByteCounts()
      outcome["every block counted once"] = after.allocated - before.allocated == UInt64(n) * classSize
      outcome["all distinct"] = Set(blocks.map { UInt(bitPattern: $0) }).count == n
      outcome["the bin's regions: the blocks and the stack's"] =
        bin.pointee.regionsInUse - inUseBefore == UInt(n + stack.count)
      outcome["refilled more than once"] = bin.pointee.refills > 1
      for b in blocks { swallocFree(b) }
    }
    for (what, ok) in outcome.sorted(by: { $0.key < $1.key }) { XCTAssertTrue(ok, what) }
    XCTAssertEqual(outcome.count, 4)
  }

  /// Frees that find their stack full overflow from the fast path's miss
  /// (freeMiss, freeOverflowingStack) as they did through freeFull: in a
  /// run of frees the whole stack goes back to the bin and the block is
  /// pushed, every block counted once in thread.deallocated, none lost or
  /// kept twice; the stack holds at most its capacity; a block freed
  /// twice while its stack is full is reported (tests/misuse: the abort).
  func testFreesThatFindTheirStackFullOverflowAndCountEveryBlock() {
    nonisolated(unsafe) var outcome: [String: Bool] = [:]
    runJoinedThreads(1) { _ in
      let size = 200
      let sizeClass = classIndexFor(UInt(size))
      let classSize = UInt64(sizeClassSize(sizeClass))
      swallocFree(swallocMalloc(UInt(size)))   // the thread's cache
      guard let t = currentTcache() else { outcome["a cache"] = false; return }
      let stack = tcacheBin(t, sizeClass)
      let n = Int(config.tcacheCapacities[sizeClass]) * 3
      let blocks = (0..<n).map { _ in swallocMalloc(UInt(size))! }
      let before = threadByteCounts()
      let bin = t.pointee.arena.pointee.bins + sizeClass
      for b in blocks { swallocFree(b) }
      let after = threadByteCounts()
      outcome["every block counted once"] = after.deallocated - before.deallocated == UInt64(n) * classSize
      outcome["the stack within its capacity"] = stack.count <= Int(stack.pointee.capacity)
      let cached = Set((0..<stack.count).map { UInt(bitPattern: stack.pointee.head[$0]) })
      outcome["its entries distinct"] = cached.count == stack.count
      outcome["its entries the last freed"] = cached.isSubset(of: Set(blocks.suffix(stack.count).map { UInt(bitPattern: $0) }))
      outcome["the rest back in the bin"] = bin.pointee.regionsInUse == UInt(stack.count)
      let again = (0..<n).map { _ in swallocMalloc(UInt(size))! }
      outcome["the blocks come back, none twice"] = Set(again.map { UInt(bitPattern: $0) }).count == n
      for b in again { swallocFree(b) }
    }
    for (what, ok) in outcome.sorted(by: { $0.key < $1.key }) { XCTAssertTrue(ok, what) }
    XCTAssertEqual(outcome.count, 6)
  }

  func testFlushOfOwnRegionsReturnsThemToTheSlabs() {
    let owner = makePrivateArena()
    let sizeClass = classIndexFor(100)
    let bin = owner.pointee.bins + sizeClass
    var regions = [UnsafeMutableRawPointer?](repeating: nil, count: 30)
    XCTAssertEqual(binFill(owner, sizeClass: sizeClass, into: &regions, want: 30), 30)
    let t = tcacheCreateFullSize(arena: owner)!
    for r in regions { XCTAssertTrue(tcacheBin(t, sizeClass).push(r!)) }
    tcacheFlush(t, sizeClass: sizeClass, keep: 10)
    XCTAssertEqual(tcacheBin(t, sizeClass).count, 10)
    XCTAssertEqual(bin.pointee.regionsInUse, 10)
    XCTAssertEqual(bin.pointee.remoteFrees, 0)
    // The ten kept are the most recently cached ones, popped newest first.
    XCTAssertEqual(tcacheBin(t, sizeClass).pop(), regions[29])
  }

  /// A flush takes a run of adjacent regions (up or down) with one compare
  /// each and sets their bits a word at a time: a run stops at its slab's
  /// end even where the next slab's first region follows in memory, and
  /// every region comes back to its own slab, in both directions.
  func testFlushRunsOfAdjacentRegionsStopAtSlabBoundaries() {
    for descending in [false, true] {
      let owner = makePrivateArena()
      // 1 KiB regions fill their 4-page slabs exactly: consecutive slabs'
      // regions touch.
      let sizeClass = classIndexFor(1024)
      let info = config.binInfos[sizeClass]
      let regionSize = UInt(info.regionSize)
      XCTAssertEqual(UInt(info.regionCount) * regionSize, UInt(info.slabPages) << pageShift, "no slab tail")
      let bin = owner.pointee.bins + sizeClass
      let n = Int(info.regionCount) * 3
      var regions = [UnsafeMutableRawPointer?](repeating: nil, count: n)
      var got = 0
      while got < n {
        let k = regions.withUnsafeMutableBufferPointer {
          binFill(owner, sizeClass: sizeClass, into: $0.baseAddress! + got, want: min(16, n - got))
        }
        XCTAssertGreaterThan(k, 0)
        got += k
      }
      var addresses = regions.map { UInt(bitPattern: $0) }.sorted()
      let slabOf = { (a: UInt) in pageEntryExtent(pageEntry(a))! }
      let slabs = Set(addresses.map { UInt(bitPattern: slabOf($0)) })
      XCTAssertEqual(slabs.count, 3)
      let touching = zip(addresses, addresses.dropFirst()).filter { $1 == $0 + regionSize && slabOf($0) != slabOf($1) }
      XCTAssertFalse(touching.isEmpty, "some slab's last region is followed by the next slab's first")
      if descending { addresses.reverse() }
      let t = tcacheCreate(arena: owner)!
      let cache = tcacheBin(t, sizeClass)
      // Pushed in this order, a full stack's older entries flushed: each
      // flush sees runs within and across slabs.
      for a in addresses {
        let p = UnsafeMutableRawPointer(bitPattern: a)!
        if !cache.push(p) { tcacheFlush(t, sizeClass: sizeClass, keep: 0); XCTAssertTrue(cache.push(p)) }
      }
      tcacheFlush(t, sizeClass: sizeClass, keep: 0)
      XCTAssertEqual(bin.pointee.regionsInUse, 0)
      XCTAssertEqual(bin.pointee.frees, UInt(n))
      for s in slabs {
        let slab = UnsafeMutablePointer<Extent>(bitPattern: s)!
        // Emptied slabs are spares, the current slab, or back in the free
        // extents (state .free, its record possibly reused).
        if slab.pointee.state == .slab {
          XCTAssertEqual(UInt32(slab.pointee.freeRegions), info.regionCount)
          XCTAssertEqual(slab.bitmap.countSet(), UInt(info.regionCount))
        }
      }
    }
  }

  /// Refills take a whole free slab's regions in order without a bitmap
  /// scan, and flushes return runs of one slab with one page-map lookup:
  /// both across slab boundaries, with partly used slabs in between, keep
  /// the bitmaps, free counts and bin counters exact (the debug build also
  /// checks every slab's bitmap against its count).
  func testRefillsAndFlushesAcrossSlabsKeepTheCountsExact() {
    let owner = makePrivateArena()
    let sizeClass = classIndexFor(1024)
    let info = config.binInfos[sizeClass]
    let regionSize = UInt(info.regionSize)
    let bin = owner.pointee.bins + sizeClass
    let n = Int(info.regionCount) * 5 + 2
    var regions = [UnsafeMutableRawPointer?](repeating: nil, count: n)
    var got = 0
    while got < n {
      let want = min(3, n - got)
      let k = regions.withUnsafeMutableBufferPointer { binFill(owner, sizeClass: sizeClass, into: $0.baseAddress! + got, want: want) }
      XCTAssertEqual(k, want)
      got += k
    }
    XCTAssertEqual(Set(regions.map { UInt(bitPattern: $0) }).count, n, "distinct regions")
    for r in regions {
      let address = UInt(bitPattern: r)
      let slab = pageEntryExtent(pageEntry(address))!
      XCTAssertEqual((address - slab.pointee.address) % regionSize, 0)
      XCTAssertFalse(slab.bitmap.isSet((address - slab.pointee.address) / regionSize), "handed out")
    }
    XCTAssertEqual(bin.pointee.regionsInUse, UInt(n))

    // Every other region back (against allocation order), then refill: the
    // partly used slabs are scanned.
    let t = tcacheCreate(arena: owner)!
    let cache = tcacheBin(t, sizeClass)
    var kept: [UnsafeMutableRawPointer?] = []
    for (i, r) in regions.enumerated().reversed() {
      if i % 2 == 0 {
        // (A full stack is flushed first: the class's slab may hold more
        // regions than half its stack.)
        if !cache.push(r!) { tcacheFlush(t, sizeClass: sizeClass, keep: 0); XCTAssertTrue(cache.push(r!)) }
      } else {
        kept.append(r)
      }
    }
    tcacheFlush(t, sizeClass: sizeClass, keep: 0)
    XCTAssertEqual(bin.pointee.regionsInUse, UInt(kept.count))
    var again = [UnsafeMutableRawPointer?](repeating: nil, count: n - kept.count)
    XCTAssertEqual(binFill(owner, sizeClass: sizeClass, into: &again, want: again.count), again.count)
    XCTAssertEqual(Set((again + kept).map { UInt(bitPattern: $0) }).count, n, "no region handed out twice")

    // All of them back, in allocation order: every slab empties.
    for r in again + kept { XCTAssertTrue(cache.push(r!) || { tcacheFlush(t, sizeClass: sizeClass, keep: 0); return cache.push(r!) }()) }
    tcacheFlush(t, sizeClass: sizeClass, keep: 0)
    XCTAssertEqual(bin.pointee.regionsInUse, 0)
    XCTAssertEqual(bin.pointee.frees, bin.pointee.mallocs)
    var slab = bin.pointee.spare
    while let s = slab {
      XCTAssertEqual(UInt32(s.pointee.freeRegions), info.regionCount, "a spare slab is empty")
      slab = s.pointee.next
    }
  }

  func testThreadExitFlushesTheCacheAndUnbindsTheArena() {
    let before = boundThreads()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { _ in
      var kept: [UnsafeMutableRawPointer] = []
      for i in 0..<1000 { kept.append(swallocMalloc(UInt(i % 300 + 1))!) }
      for p in kept { swallocFree(p) }   // all of it now sits in this thread's cache
      return nil
    }, nil)
    XCTAssertEqual(rc, 0)
    pthread_join(thread, nil)
    XCTAssertEqual(boundThreads(), before, "the exiting thread released its arena")
    XCTAssertNotNil(tcacheRecycle.head, "its cache block was recycled")
  }
}

final class ThreadCacheGCTests: XCTestCase {
  override func setUp() { XCTAssertTrue(ensureBooted()) }

  /// Caches `blocks` in `t`'s stack of `sizeClass` (flushing it when full),
  /// then flushes it: every region of `arena`'s bin must be home.
  private func sendHome(_ blocks: [UnsafeMutableRawPointer], _ t: UnsafeMutablePointer<Tcache>, _ sizeClass: Int,
                        _ arena: UnsafeMutablePointer<Arena>) {
    let bin = tcacheBin(t, sizeClass)
    for p in blocks where !bin.push(p) {
      tcacheFlush(t, sizeClass: sizeClass, keep: 0)
      XCTAssertTrue(bin.push(p))
    }
    tcacheFlush(t, sizeClass: sizeClass, keep: 0)
    XCTAssertEqual((arena.pointee.bins + sizeClass).pointee.regionsInUse, 0, "every region went home")
  }

  func testGarbageCollectionTrimsStacksThatDidNotRunEmpty() {
    let arena = makePrivateArena()
    let idle = classIndexFor(64), busy = classIndexFor(80)
    var regions = [UnsafeMutableRawPointer?](repeating: nil, count: 100)
    let t = tcacheCreateFullSize(arena: arena)!
    for sizeClass in [idle, busy] {
      XCTAssertEqual(binFill(arena, sizeClass: sizeClass, into: &regions, want: 100), 100)
      for r in regions { XCTAssertTrue(tcacheBin(t, sizeClass).push(r!)) }
    }
    tcacheBin(t, busy).pointee.refilled = 1     // this one ran empty recently

    for sizeClass in [idle, busy] {
      t.pointee.gcCursor = UInt32(sizeClass)
      t.pointee.gcEvents = tcacheGCInterval - 1
      tcacheEvent(t)                              // the 32nd event: one GC step
    }
    XCTAssertEqual(tcacheBin(t, idle).count, 25, "three quarters of an unused stack go back")
    XCTAssertEqual((arena.pointee.bins + idle).pointee.regionsInUse, 25)
    XCTAssertEqual(tcacheBin(t, busy).count, 100, "a stack in use is left alone")
    XCTAssertEqual(tcacheBin(t, busy).pointee.refilled, 0, "until its next visit")
    t.pointee.gcCursor = UInt32(busy)
    t.pointee.gcEvents = tcacheGCInterval - 1
    tcacheEvent(t)
    XCTAssertEqual(tcacheBin(t, busy).count, 25)
  }

  /// A stack that swings between empty and full twice in a row doubles (up
  /// to the slots its block reserves) and takes the free without a flush;
  /// one that overflows again with no refill between (a burst's frees)
  /// flushes its older half and keeps its size. The collector halves a
  /// grown stack once its class goes quiet, not below the base capacity,
  /// and the free fast path's limit moves with the stack's start.
  /// A stack that overflows in a run of frees (the fast path pushed it
  /// full, popped nothing since its last flush or refill) sends all of it
  /// back; one that overflows after a pop, half.
  func testAnOverflowInARunOfFreesFlushesTheWholeStack() {
    let arena = makePrivateArena()
    let t = tcacheCreateFullSize(arena: arena)!
    let sizeClass = classIndexFor(64)
    let bin = tcacheBin(t, sizeClass)
    let capacity = Int(bin.pointee.capacity)
    var regions = [UnsafeMutableRawPointer?](repeating: nil, count: 3 * capacity)
    XCTAssertEqual(binFill(arena, sizeClass: sizeClass, into: &regions, want: regions.count), regions.count)
    var next = 0
    // The free fast path's pushes (counted) until the stack is full, then
    // the overflow cacheFree makes.
    func freeUntilFull() {
      while bin.fastPush(regions[next], address: UInt(bitPattern: regions[next])) { next += 1 }
      tcacheOverflow(t, sizeClass: sizeClass)
    }
    tcacheFlush(t, sizeClass: sizeClass, keep: 0)   // folds the counts: they start here
    freeUntilFull()
    XCTAssertEqual(bin.count, 0, "a run of frees: the whole stack went back")
    XCTAssertTrue(bin.fastPush(regions[next], address: UInt(bitPattern: regions[next])))
    next += 1
    let popped = bin.popBeforeEvent()!   // a malloc's pop
    freeUntilFull()
    XCTAssertEqual(bin.count, capacity >> 1, "a pop since the last flush: half went back")
    sendHome([popped] + regions[next...].map { $0! }, t, sizeClass, arena)
  }

  /// The stacks of 4-15 KiB regions, and of the large classes, may grow
  /// further in a process with one thread than in one with several
  /// (tcacheGrowBudgetAlone, tcacheBigGrowBudgetShared); the block
  /// reserves the larger count, and no limit is below the base.
  func testStacksGrowFurtherInASingleThreadedProcess() {
    for c in 0..<config.tcacheClassCount {
      XCTAssertLessThanOrEqual(config.tcacheBaseCapacities[c], config.tcacheSharedCapacities[c], "class \(c)")
      XCTAssertLessThanOrEqual(config.tcacheSharedCapacities[c], config.tcacheCapacities[c], "class \(c)")
      XCTAssertLessThanOrEqual(config.tcacheCapacities[c], max(config.tcacheBaseCapacities[c], tcacheGrowSlots))
      if c >= config.smallClassCount {
        let size = sizeClassSize(c)
        let base = config.tcacheBaseCapacities[c]
        XCTAssertEqual(config.tcacheCapacities[c], max(base, min(UInt32(tcacheBigGrowBudget / size), tcacheGrowSlots)))
        XCTAssertEqual(config.tcacheSharedCapacities[c],
                       max(base, min(UInt32(tcacheBigGrowBudgetShared / size), tcacheGrowSlots)), "large class \(c)")
      }
    }
    let c8k = classIndexFor(8192), c12k = classIndexFor(12288)
    XCTAssertEqual(config.tcacheSharedCapacities[c8k], max(config.tcacheBaseCapacities[c8k], 8))
    XCTAssertEqual(config.tcacheCapacities[c8k], 32)
    XCTAssertEqual(config.tcacheSharedCapacities[c12k], config.tcacheBaseCapacities[c12k], "12 KiB: no growth with threads")
    XCTAssertEqual(config.tcacheCapacities[c12k], 21)
    XCTAssertEqual(tcacheGrowthLimit(c12k),
                   swalloc_single_threaded() ? config.tcacheCapacities[c12k] : config.tcacheSharedCapacities[c12k])
    // 32 KiB runs: 16 entries alone, 8 with threads.
    let c32k = classIndexFor(32 << 10)
    XCTAssertEqual(config.tcacheCapacities[c32k], 16)
    XCTAssertEqual(config.tcacheSharedCapacities[c32k], 8)
  }

  func testAStackThatKeepsSwingingGrowsAndShrinksBackWhenQuiet() {
    let arena = makePrivateArena()
    let t = tcacheCreate(arena: arena)!
    let sizeClass = classIndexFor(4096)
    let bin = tcacheBin(t, sizeClass)
    let base = config.tcacheBaseCapacities[sizeClass]
    let most = tcacheGrowthLimit(sizeClass)
    let grown = min(base * 2, most)
    XCTAssertEqual(bin.pointee.capacity, base)
    XCTAssertGreaterThan(most, base, "4 KiB stacks may grow")
    XCTAssertEqual(bin.pointee.fastLimit, bin.pointee.start)
    var blocks: [UnsafeMutableRawPointer] = []
    func fresh() -> UnsafeMutableRawPointer {
      var one: [UnsafeMutableRawPointer?] = [nil]
      XCTAssertEqual(binFill(arena, sizeClass: sizeClass, into: &one, want: 1), 1)
      return one[0]!
    }
    // A free that finds the stack full: cacheFree's path.
    func overflow(_ p: UnsafeMutableRawPointer) {
      XCTAssertFalse(bin.push(p))
      tcacheOverflow(t, sizeClass: sizeClass)
      XCTAssertTrue(bin.push(p))
    }
    // Runs the stack empty, refills it, then fills it and overflows it.
    func swing() {
      while let p = bin.pop() { blocks.append(p) }
      blocks.append(tcacheRefillAndPop(t, sizeClass: sizeClass)!)
      while bin.count < Int(bin.pointee.capacity) { XCTAssertTrue(bin.push(fresh())) }
      overflow(fresh())
    }
    swing()
    XCTAssertEqual(bin.pointee.capacity, base, "one swing: flushed, not grown")
    XCTAssertEqual(bin.count, Int(base / 2) + 1)
    // Full again with no refill between (a burst's frees): not grown.
    while bin.count < Int(base) { XCTAssertTrue(bin.push(fresh())) }
    overflow(fresh())
    XCTAssertEqual(bin.pointee.capacity, base, "an overflow with no refill before it does not grow it")
    swing()
    XCTAssertEqual(bin.pointee.capacity, base, "a swing after that is again the first")
    swing()
    XCTAssertEqual(bin.pointee.capacity, grown, "the second swing in a row doubles it")
    XCTAssertEqual(bin.count, Int(base) + 1, "and the free was taken without a flush")
    XCTAssertEqual(bin.pointee.fastLimit, bin.pointee.start, "the fast path's limit moved along")
    XCTAssertEqual(bin.pointee.fill, tcacheFill(sizeClass: sizeClass, capacity: grown))
    let p = fresh()
    XCTAssertTrue(bin.fastPush(p, address: UInt(bitPattern: p)), "the fast path has room in the grown part")
    // Quiet now: the collector's next visit keeps a quarter and halves it.
    bin.pointee.refilled = 0
    t.pointee.gcCursor = UInt32(sizeClass)
    t.pointee.gcEvents = tcacheGCInterval - 1
    tcacheEvent(t)
    XCTAssertEqual(bin.pointee.capacity, max(grown / 2, base))
    XCTAssertEqual(bin.pointee.fastLimit, bin.pointee.start)
    XCTAssertEqual(bin.count, (Int(base) + 2) / 4)
    XCTAssertNil(bin.pointee.end.pointee, "the sentinel is untouched")
    sendHome(blocks, t, sizeClass, arena)
  }

  /// A large run freed into the thread cache is marked in its first
  /// page's page-map entry (pageEntryCachedBit), which every free of a
  /// large block tests; a malloc that takes it back clears the mark, and
  /// the run's record and bin-map copy are left as they were.
  func testALargeRunInAThreadCacheIsMarkedInItsPageEntry() {
    guard config.tcacheClassCount > config.smallClassCount else { return }
    let size = sizeClassSize(config.smallClassCount)   // 16 KiB: cached
    let p = swallocMalloc(size)!
    let address = UInt(bitPattern: p)
    let live = pageEntry(address)
    XCTAssertEqual(live & pageEntryCachedBit, 0)
    XCTAssertEqual(Int(live >> pageEntryClassShift), config.smallClassCount + 1)
    swallocFree(p)
    let cached = pageEntry(address)
    XCTAssertEqual(cached, live | pageEntryCachedBit, "freed into the cache: marked, nothing else changed")
    XCTAssertEqual(pageEntryExtent(cached), pageEntryExtent(live))
    XCTAssertEqual(binMapValue(chunkMeta(address).pageMap, Int(pageIndexInChunk(address))),
                   UInt16(truncatingIfNeeded: live >> pageEntryBinOffsetShift))
    let q = swallocMalloc(size)!
    XCTAssertEqual(q, p, "the cached run comes back first")
    XCTAssertEqual(pageEntry(address), live, "live again: unmarked")
    swallocFree(q)
  }

  /// Stacks of large blocks (16 KiB up to tcache_max) grow as the small
  /// classes' do when they keep swinging between empty and full, up to
  /// tcacheBigGrowBudget bytes: bench aligned's 16-32 KiB blocks, replaced
  /// at random, swung their stacks of 8 to 16 entries through the arena's
  /// extent lock every few operations.
  func testALargeClassStackThatKeepsSwingingGrows() {
    let arena = makePrivateArena()
    let t = tcacheCreate(arena: arena)!
    let sizeClass = classIndexFor(16 << 10)
    XCTAssertGreaterThanOrEqual(sizeClass, config.smallClassCount, "16 KiB is a large class")
    XCTAssertLessThan(sizeClass, config.tcacheClassCount, "and a cached one")
    let bin = tcacheBin(t, sizeClass)
    let base = config.tcacheBaseCapacities[sizeClass]
    let most = config.tcacheCapacities[sizeClass]
    XCTAssertEqual(most, max(base, min(UInt32(tcacheBigGrowBudget / (16 << 10)), tcacheGrowSlots)))
    XCTAssertGreaterThan(most, base, "large stacks may grow")
    XCTAssertEqual(bin.pointee.capacity, base)
    XCTAssertEqual(bin.pointee.fastLimit, bin.pointee.end, "large frees still take the slow path")
    var live: [UnsafeMutableRawPointer] = []
    // A large run as a thread cache holds it (freeFull's mark).
    func fresh() -> UnsafeMutableRawPointer {
      let p = arenaAllocLarge(arena, sizeClass: sizeClass, bytes: bootedClassSize(sizeClass), alignment: pageSize, zero: false)!
      largeSetCached(UInt(bitPattern: p), true)
      return p
    }
    // Runs the stack empty, misses once (allocateClass's large-class miss
    // marks the stack refilled), fills it and overflows it (cacheFree).
    func swing() {
      while let p = bin.pop() { largeLeftThreadCache(p); live.append(p) }
      bin.markRefilled()
      while bin.count < Int(bin.pointee.capacity) { XCTAssertTrue(bin.push(fresh())) }
      let p = fresh()
      XCTAssertFalse(bin.push(p))
      tcacheOverflow(t, sizeClass: sizeClass)
      XCTAssertTrue(bin.push(p))
    }
    swing()
    XCTAssertEqual(bin.pointee.capacity, base, "one swing: flushed, not grown")
    swing()
    XCTAssertEqual(bin.pointee.capacity, min(base * 2, most), "the second swing in a row doubles it")
    XCTAssertEqual(bin.pointee.fastLimit, bin.pointee.end, "the fast path still has no room for large blocks")
    // Everything goes home: the live runs through a stack flush too.
    for p in live {
      largeSetCached(UInt(bitPattern: p), true)
      if !bin.push(p) { tcacheFlush(t, sizeClass: sizeClass, keep: 0); XCTAssertTrue(bin.push(p)) }
    }
    tcacheFlush(t, sizeClass: sizeClass, keep: 0)
    XCTAssertEqual(arena.pointee.largeCount, 0, "every run went home")
  }

  /// A thread that frees a few runs of each large class and never takes
  /// them back (as V8's threads did in node) keeps at most
  /// tcacheBigStackBudget (64 KiB) of each class, one run at least; only
  /// a class it keeps using grows further (the test above).
  func testALargeClassStackHoldsAtMost64KiBUntilItGrows() {
    let arena = makePrivateArena()
    let t = tcacheCreate(arena: arena)!
    var held: UInt = 0
    var sizeClass = config.smallClassCount
    while sizeClass < config.tcacheClassCount {
      let size = sizeClassSize(sizeClass)
      let bin = tcacheBin(t, sizeClass)
      // freeLargeToCache's test: a push while the stack has room.
      while bin.pointee.head != bin.pointee.start {
        let p = arenaAllocLarge(arena, sizeClass: sizeClass, bytes: bootedClassSize(sizeClass), alignment: pageSize, zero: false)!
        largeSetCached(UInt(bitPattern: p), true)
        XCTAssertTrue(bin.push(p))
      }
      XCTAssertGreaterThanOrEqual(bin.count, 1, "every cached class keeps one run")
      XCTAssertLessThanOrEqual(UInt(bin.count) * size, max(tcacheBigStackBudget, size),
                               "class of \(size) B holds \(bin.count) runs before it grows")
      held += UInt(bin.count) * size
      sizeClass += 1
    }
    if sizeClassSize(config.tcacheClassCount - 1) == 64 << 10 {
      // The default tcache_max: 16 KiB x 4, 20 x 3, 24-32 x 2, 40-64 x 1
      // (2.3 MiB with the previous 256 KiB and 4 runs at least).
      XCTAssertEqual(held, 500 << 10)
    }
    var c = config.smallClassCount
    while c < config.tcacheClassCount { tcacheFlush(t, sizeClass: c, keep: 0); c += 1 }
    XCTAssertEqual(arena.pointee.largeCount, 0, "every run went home")
  }

  /// A bin keeps binMinSpares emptied slabs, binMinSparesAbovePage for
  /// regions above a page, even where they pass binSpareBytes: 2048-byte
  /// regions have 16 KiB slabs, 9216-byte ones 36 KiB; it kept 2 and 1.
  func testBinsOfBigSlabsKeepTheirMinimumOfSpares() {
    let arena = makePrivateArena()
    let t = tcacheCreate(arena: arena)!
    t.pointee.spread.pinned = true
    // (binMinSpares and binMinSparesAbovePage, spelled out: the rule kept 2
    // and 1 before, and 2 and 2 with one minimum for every class.)
    for (size, spares) in [(UInt(2048), UInt(2)), (9216, 4)] {
      let sizeClass = classIndexFor(size)
      let bin = arena.pointee.bins + sizeClass
      let info = config.binInfos[sizeClass]
      XCTAssertGreaterThan((spares &+ 1) * (UInt(info.slabPages) << pageShift), binSpareBytes, "size \(size)")
      // spares + 1 slabs' regions out and back: the last slab filled stays
      // the bin's current one, the others become spares.
      var regions = [UnsafeMutableRawPointer?](repeating: nil, count: Int(spares + 1) * Int(info.regionCount))
      XCTAssertEqual(binFill(arena, sizeClass: sizeClass, into: &regions, want: regions.count), regions.count)
      for r in regions {
        if !tcacheBin(t, sizeClass).push(r!) { tcacheFlush(t, sizeClass: sizeClass, keep: 0); _ = tcacheBin(t, sizeClass).push(r!) }
      }
      tcacheFlush(t, sizeClass: sizeClass, keep: 0)
      XCTAssertEqual(bin.pointee.regionsInUse, 0)
      XCTAssertEqual(withLock(&bin.pointee.lock) { bin.pointee.spareCount }, spares, "size \(size)")
      XCTAssertEqual(bin.pointee.slabCount, spares + 1, "size \(size): no slab went back to the arena")
    }
  }

  /// The collector's visit of a class returns its bin's spare slabs to the
  /// arena, unless a refill took one since the previous visit.
  func testTheCollectorReturnsSparesNoRefillTook() {
    let arena = makePrivateArena()
    let sizeClass = classIndexFor(1024)
    let bin = arena.pointee.bins + sizeClass
    let perSlab = Int(config.binInfos[sizeClass].regionCount)
    let t = tcacheCreate(arena: arena)!
    t.pointee.spread.pinned = true
    func gcVisit() {
      t.pointee.gcCursor = UInt32(sizeClass)
      t.pointee.gcEvents = tcacheGCInterval - 1
      tcacheEvent(t)
    }
    // Two slabs' regions out and back: both slabs become spares.
    func cycle() {
      var regions = [UnsafeMutableRawPointer?](repeating: nil, count: 2 * perSlab)
      XCTAssertEqual(binFill(arena, sizeClass: sizeClass, into: &regions, want: regions.count), regions.count)
      for r in regions {
        if !tcacheBin(t, sizeClass).push(r!) { tcacheFlush(t, sizeClass: sizeClass, keep: 0); _ = tcacheBin(t, sizeClass).push(r!) }
      }
      tcacheFlush(t, sizeClass: sizeClass, keep: 0)
    }
    cycle()
    let spares = withLock(&bin.pointee.lock) { bin.pointee.spareCount }
    XCTAssertGreaterThan(spares, 0, "emptied slabs are kept as spares")
    gcVisit()
    XCTAssertEqual(withLock(&bin.pointee.lock) { bin.pointee.spareCount }, 0, "no refill took a spare: returned")

    cycle()                                   // fresh slabs, then spares again
    cycle()                                   // this refill takes the spares
    XCTAssertGreaterThan(withLock(&bin.pointee.lock) { bin.pointee.spareCount }, 0)
    gcVisit()
    XCTAssertGreaterThan(withLock(&bin.pointee.lock) { bin.pointee.spareCount }, 0, "a refill took one: kept")
    gcVisit()
    XCTAssertEqual(withLock(&bin.pointee.lock) { bin.pointee.spareCount }, 0, "none taken since: returned")
    XCTAssertEqual(bin.pointee.regionsInUse, 0)
  }
}

/// Arena choice (Arena.swift): threads share the existing arenas, and one
/// that keeps meeting held locks moves to a less loaded or new arena.
final class ArenaChoiceTests: XCTestCase {
  override func setUp() { XCTAssertTrue(ensureBooted()) }

  private func createdArenas() -> Int {
    mutexLock(&arenasLock)
    defer { mutexUnlock(&arenasLock) }
    return (0..<config.autoArenaCount).filter { arenas[$0] != nil }.count
  }

  private func threads(_ a: UnsafeMutablePointer<Arena>) -> Int {
    mutexLock(&arenasLock)
    defer { mutexUnlock(&arenasLock) }
    return arenaThreadCounts[Int(a.pointee.index)]
  }

  private func addThreads(_ a: UnsafeMutablePointer<Arena>, _ n: Int) {
    mutexLock(&arenasLock)
    arenaThreadCounts[Int(a.pointee.index)] &+= n
    mutexUnlock(&arenasLock)
  }

  func testANewThreadJoinsTheLeastLoadedExistingArenaWithoutMakingOne() throws {
    // Every existing arena busy (a thread more on each): jemalloc's rule
    // would make a new arena for the new thread while narenas allows.
    if config.autoArenaCount < 2 { throw XCTSkip("one automatic arena (one CPU): no arena is left to make") }
    mutexLock(&arenasLock)
    var existing = (0..<config.autoArenaCount).filter { arenas[$0] != nil }
    // narenas is the CPU count: on a small machine the earlier tests may
    // have made every automatic arena. Then the last is out of the table
    // for this test (the threads bound to it keep their pointer; the
    // table's walks skip an empty slot), so that one is left to make.
    var hidden: (index: Int, arena: UnsafeMutablePointer<Arena>)? = nil
    if existing.count == config.autoArenaCount, let last = existing.last, last > 0 {
      hidden = (last, arenas[last]!)
      arenas[last] = nil
      existing.removeLast()
    }
    for i in existing { arenaThreadCounts[i] &+= 1 }
    mutexUnlock(&arenasLock)
    defer {
      mutexLock(&arenasLock)
      for i in existing { arenaThreadCounts[i] &-= 1 }
      if let hidden { arenas[hidden.index] = hidden.arena }
      mutexUnlock(&arenasLock)
    }
    XCTAssertLessThan(existing.count, config.autoArenaCount, "an arena is left to make")
    guard let chosen = arenaChoose() else { return XCTFail("no arena") }
    defer { arenaRelease(chosen) }
    XCTAssertEqual(createdArenas(), existing.count, "binding a thread made no arena")
    mutexLock(&arenasLock)
    let mine = arenaThreadCounts[Int(chosen.pointee.index)] &- 1
    for i in existing {
      XCTAssertLessThanOrEqual(mine, arenaThreadCounts[i], "arena \(i) had fewer threads than the one chosen")
    }
    mutexUnlock(&arenasLock)
  }

  /// The counts of bindings and moves only ever grow: a server that makes
  /// threads all the time binds its 2^32nd after days (10,000 a second:
  /// five days), and a checked add trapped there, in arenaChoose. They wrap.
  func testBindingCountsWrapRatherThanTrap() {
    let bound = threadsBound.load(ordering: .relaxed)
    threadsBound.store(UInt32.max, ordering: .relaxed)
    defer { threadsBound.store(bound, ordering: .relaxed) }
    guard let a = arenaChoose() else { return XCTFail("no arena") }
    arenaRelease(a)
    XCTAssertEqual(threadsBound.load(ordering: .relaxed), 0, "wrapped")
  }

  func testAThreadWhoseLocksCostItTimeMovesToALessLoadedArena() throws {
    if config.autoArenaCount < 2 { throw XCTSkip("one automatic arena (one CPU): nowhere to move") }
    // The cache's thread (counted by arenaChoose, released by tcacheDestroy
    // wherever it is then) and two more on its arena: any other automatic
    // arena, existing or new, has at least two fewer unless the others are
    // as crowded, which a test process's are not.
    guard let home = arenaChoose() else { return XCTFail("no arena") }
    addThreads(home, 2)
    let t = tcacheCreate(arena: home)!
    defer { tcacheDestroy(t) }
    func window(ms: UInt32, weight: UInt32) {
      t.pointee.spread.windowMs = UInt32(truncatingIfNeeded: monotonicMs()) &- ms
      t.pointee.spread.lockWeightSeen = swalloc_tls_lock_weight() &- weight
    }

    // A window not yet over: no verdict, however heavy.
    window(ms: 0, weight: 1_000_000)
    arenaSpreadCheck(t, now: UInt32(truncatingIfNeeded: monotonicMs()))
    XCTAssertEqual(t.pointee.arena, home)
    XCTAssertEqual(t.pointee.spread.lockWeightSeen, swalloc_tls_lock_weight() &- 1_000_000, "the window goes on")

    // Over, below the rate: it stays, and a new window begins.
    window(ms: 20, weight: 20 * arenaSpreadWeightPerMs - 500)
    arenaSpreadCheck(t, now: UInt32(truncatingIfNeeded: monotonicMs()))
    XCTAssertEqual(t.pointee.arena, home)
    XCTAssertEqual(t.pointee.spread.lockWeightSeen, swalloc_tls_lock_weight())

    // Pinned by thread.arena: it stays, however heavy.
    t.pointee.spread.pinned = true
    for _ in 1...Int(arenaSpreadWindows) {
      window(ms: 20, weight: 1_000_000)
      arenaSpreadCheck(t, now: UInt32(truncatingIfNeeded: monotonicMs()))
    }
    XCTAssertEqual(t.pointee.arena, home)
    t.pointee.spread.pinned = false

    // Over the rate in one window, then below it: no move (one preempted
    // holder does not make a pattern).
    window(ms: 20, weight: 21 * arenaSpreadWeightPerMs)
    arenaSpreadCheck(t, now: UInt32(truncatingIfNeeded: monotonicMs()))
    XCTAssertEqual(t.pointee.arena, home)
    window(ms: 20, weight: 0)
    arenaSpreadCheck(t, now: UInt32(truncatingIfNeeded: monotonicMs()))
    XCTAssertEqual(t.pointee.arena, home)

    // Over the rate in arenaSpreadWindows windows in a row: it moves.
    let homeThreads = threads(home)
    let spreadBefore = threadsSpread.load(ordering: .relaxed)
    for w in 1...Int(arenaSpreadWindows) {
      XCTAssertEqual(t.pointee.arena, home, "not before window \(w)")
      window(ms: 20, weight: 21 * arenaSpreadWeightPerMs)
      arenaSpreadCheck(t, now: UInt32(truncatingIfNeeded: monotonicMs()))
    }
    let moved = t.pointee.arena
    XCTAssertNotEqual(moved, home, "the thread moved")
    XCTAssertEqual(threadsSpread.load(ordering: .relaxed) &- spreadBefore, 1, "the stats count the move")
    XCTAssertEqual(threads(home), homeThreads &- 1)
    XCTAssertLessThanOrEqual(threads(moved), homeThreads &- 1, "to an arena with fewer threads")
    XCTAssertEqual((UnsafeRawPointer(t) + tcacheOwnerOffset).load(as: UInt.self), UInt(bitPattern: moved),
                   "the free fast path's copy of the arena followed")

    // Alone there now, with fewer threads than anywhere else it could go:
    // heavy again, it does not move back.
    for _ in 1...Int(arenaSpreadWindows) {
      window(ms: 20, weight: 1_000_000)
      arenaSpreadCheck(t, now: UInt32(truncatingIfNeeded: monotonicMs()))
    }
    XCTAssertEqual(t.pointee.arena, moved)

    addThreads(home, -2)   // and tcacheDestroy releases the cache's own
  }

  /// A thread that leaves an arena damps the others' moves for
  /// arenaSpreadSettleMs: their windows counted its contention. Without it,
  /// two contending workers and their idle main thread on one arena ended on
  /// three arenas (bench server-churn with tcache_max:32768).
  func testAThreadLeavingAnArenaHoldsTheOthersThereWhileTheyMeasureAgain() throws {
    if config.autoArenaCount < 2 { throw XCTSkip("one automatic arena (one CPU): nowhere to move") }
    XCTAssertEqual(arenaSpreadSettleMs, arenaSpreadWindowMs &* UInt32(arenaSpreadWindows),
                   "the settle time is two judging windows")
    // t1's thread (counted by arenaChoose), t2's and three idle ones. t2's
    // destroy releases a binding too (arenaRelease): it is counted live here,
    // as arenaChoose would, or the count of live threads went below zero
    // (a trap) when this class ran without the tests that bind threads.
    guard let home = arenaChoose() else { return XCTFail("no arena") }
    addThreads(home, 4)
    atomicU32(&threadsLiveWord).pointee.add(1, ordering: .relaxed)
    let t1 = tcacheCreate(arena: home)!, t2 = tcacheCreate(arena: home)!
    defer { tcacheDestroy(t1); tcacheDestroy(t2); addThreads(home, -3) }
    let start = UInt32(truncatingIfNeeded: monotonicMs()) &+ 1000
    // Each heavy window ends at `now`: arenaSpreadWindows of them in a row.
    func heavyWindows(_ t: UnsafeMutablePointer<Tcache>, endingAt end: UInt32) {
      var now = end &- arenaSpreadWindowMs &* UInt32(arenaSpreadWindows &- 1)
      for _ in 1...Int(arenaSpreadWindows) {
        t.pointee.spread.windowMs = now &- arenaSpreadWindowMs
        t.pointee.spread.lockWeightSeen = swalloc_tls_lock_weight() &- 100 * arenaSpreadWindowMs * arenaSpreadWeightPerMs
        arenaSpreadCheck(t, now: now)
        now &+= arenaSpreadWindowMs
      }
    }
    heavyWindows(t1, endingAt: start)
    XCTAssertNotEqual(t1.pointee.arena, home, "the first thread moved")
    heavyWindows(t2, endingAt: start &+ 5)
    XCTAssertEqual(t2.pointee.arena, home, "5 ms after a thread left: the second stays")
    XCTAssertEqual(t2.pointee.spread.strikes, 0, "and its windows start over")
    heavyWindows(t2, endingAt: start &+ arenaSpreadSettleMs &- 1)
    XCTAssertEqual(t2.pointee.arena, home, "still within the settle time")
    heavyWindows(t2, endingAt: start &+ arenaSpreadSettleMs)
    XCTAssertNotEqual(t2.pointee.arena, home, "after it, still contended, it moves")
  }

  func testALockTakenOverFromAnotherThreadWeighsOne() {
    let lock = UnsafeMutablePointer<SwallocCore.Mutex>.allocate(capacity: 1)
    lock.initialize(to: SwallocCore.Mutex())
    defer { lock.deallocate() }
    let before = swalloc_tls_lock_weight()
    mutexLock(lock); mutexUnlock(lock)
    mutexLock(lock); mutexUnlock(lock)
    XCTAssertEqual(swalloc_tls_lock_weight() &- before, lockWeightHandoff, "the first acquisition only")
    runJoinedThreads(1) { _ in mutexLock(lock); mutexUnlock(lock) }
    mutexLock(lock); mutexUnlock(lock)
    XCTAssertEqual(swalloc_tls_lock_weight() &- before, 2 &* lockWeightHandoff, "taken back from the other thread")
  }

  func testALockFoundHeldWeighsItsSpinOrItsSleep() {
    final class Shared: @unchecked Sendable {
      // Raw memory, as the allocator's locks are: both threads use its address.
      let lock = UnsafeMutablePointer<SwallocCore.Mutex>.allocate(capacity: 1)
      let held = Synchronization.Atomic<Int>(0)
      let release = Synchronization.Atomic<Int>(0)
      var weight: UInt32 = 0
      var waitedUs: UInt64 = 0
      init() { lock.initialize(to: SwallocCore.Mutex()) }
      deinit { lock.deallocate() }
    }
    let shared = Shared()
    runJoinedThreads(2) { i in
      if i == 0 {
        mutexLock(shared.lock)
        shared.held.store(1, ordering: .releasing)
        while shared.release.load(ordering: .acquiring) == 0 { sched_yield() }
        usleep(20_000)   // the other thread sleeps on it by now
        mutexUnlock(shared.lock)
      } else {
        while shared.held.load(ordering: .acquiring) == 0 { sched_yield() }
        let before = swalloc_tls_lock_weight()
        let start = monotonicUs()
        shared.release.store(1, ordering: .releasing)
        mutexLock(shared.lock)
        shared.waitedUs = monotonicUs() &- start
        shared.weight = swalloc_tls_lock_weight() &- before
        mutexUnlock(shared.lock)
      }
    }
    // Taken over (1), spun on (4), slept on for most of 20 ms: its time in
    // 100 ns units, capped at lockWeightSleepMax (1 ms).
    XCTAssertGreaterThanOrEqual(shared.waitedUs, 1000, "it slept (the holder kept it 20 ms)")
    XCTAssertEqual(UInt64(shared.weight), UInt64(lockWeightHandoff) &+ lockWeightSleepMax,
                   "a sleep of milliseconds weighs at most a millisecond")
  }
}

/// The light first refills (tcacheLightRefills) are for processes that
/// have had threads: start and join one, after which glibc's
/// __libc_single_threaded stays false (XCTest's own threads may already
/// have made it so).
private func ensureProcessHasHadThreads() {
  var thread = pthread_t()
  XCTAssertEqual(pthread_create(&thread, nil, { _ in nil }, nil), 0)
  XCTAssertEqual(pthread_join(thread, nil), 0)
  XCTAssertFalse(swalloc_single_threaded())
}

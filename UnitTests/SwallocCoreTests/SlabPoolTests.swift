import XCTest
@testable import SwallocCore

/// The arena's slab pool (LargeAndSlabs.swift): empty slabs kept between a
/// bin giving one back and the next new slab of their page count, and
/// handed to the free extents before the arena's pages serve anything else.
final class SlabPoolTests: XCTestCase {
  override func setUp() { XCTAssertTrue(ensureBooted()) }

  /// Two small classes whose slabs have the same page count.
  private func classesSharingASlabSize() -> (Int, Int) {
    for c1 in 0..<config.smallClassCount {
      for c2 in (c1 + 1)..<config.smallClassCount
      where config.binInfos[c2].slabPages == config.binInfos[c1].slabPages {
        return (c1, c2)
      }
    }
    XCTFail("no two classes share a slab size")
    return (0, 0)
  }

  private func freeExtentPageTotal(_ a: UnsafeMutablePointer<Arena>) -> UInt {
    var total: UInt = 0
    for b in 0..<extentBucketCount {
      var e = a.pointee.freeExtents.heads[b].first
      while let cur = e { total += cur.pointee.pages; e = cur.pointee.next }
    }
    return total
  }

  func testAnEmptySlabIsTakenByTheNextSlabOfItsSizeInAnotherClass() {
    let a = makePrivateArena()
    let (c1, c2) = classesSharingASlabSize()
    let pages = UInt(config.binInfos[c1].slabPages)
    let first = arenaAllocSlab(a, sizeClass: c1)!
    let freeBefore = freeExtentPageTotal(a)
    arenaFreeSlab(a, first)
    XCTAssertEqual(a.pointee.slabPool.pages, pages)
    XCTAssertEqual(first.pointee.slabList, .pooled)
    XCTAssertEqual(freeExtentPageTotal(a), freeBefore, "a pooled slab's pages are not in the free extents")
    // Its pages keep their old class until they get a new one: a stale free
    // of one of its blocks meets a slab whose regions are all free.
    let address = first.pointee.address
    XCTAssertEqual(Int(pageEntry(address) >> pageEntryClassShift), c1 + 1)

    let second = arenaAllocSlab(a, sizeClass: c2)!
    XCTAssertEqual(second, first, "the pooled slab's record and pages")
    XCTAssertEqual(a.pointee.slabPool.pages, 0)
    XCTAssertEqual(Int(second.pointee.sizeClass), c2)
    XCTAssertEqual(UInt32(second.pointee.freeRegions), config.binInfos[c2].regionCount)
    XCTAssertEqual(second.bitmap.countSet(), UInt(config.binInfos[c2].regionCount))
    XCTAssertEqual(second.pointee.contents, .dirty, "calloc must clear what the old blocks wrote")
    let map = chunkMeta(address).pageMap
    for i in 0..<Int(pages) {
      let index = Int(pageIndexInChunk(address)) + i
      XCTAssertEqual(Int(map[index] >> pageEntryClassShift), c2 + 1)
      XCTAssertEqual(binMapValue(map, index), UInt16(truncatingIfNeeded: map[index] >> pageEntryBinOffsetShift))
    }
    arenaFreeSlab(a, second)
  }

  /// The pool never keeps the arena's pages from another use: a large run,
  /// or a slab of a size no pooled slab has or halves to, empties it into
  /// the free extents first.
  func testTheArenasOtherAllocationsEmptyThePoolFirst() {
    let a = makePrivateArena()
    let s = arenaAllocSlab(a, sizeClass: 0)!
    arenaFreeSlab(a, s)
    XCTAssertGreaterThan(a.pointee.slabPool.pages, 0)
    let freeBefore = freeExtentPageTotal(a)
    let large = arenaAllocLarge(a, sizeClass: config.smallClassCount, bytes: bootedClassSize(config.smallClassCount), alignment: pageSize, zero: false)!
    XCTAssertEqual(a.pointee.slabPool.pages, 0)
    let largePages = sizeClassSize(config.smallClassCount) >> pageShift
    XCTAssertEqual(freeExtentPageTotal(a), freeBefore + UInt(config.binInfos[0].slabPages) - largePages)
    arenaFreeLarge(a, address: UInt(bitPattern: large), fromThreadCache: false)

    guard let other = (0..<config.smallClassCount).first(where: {
      config.binInfos[$0].slabPages != config.binInfos[0].slabPages
    }) else { return XCTFail("every class has the same slab size") }
    let s2 = arenaAllocSlab(a, sizeClass: 0)!
    arenaFreeSlab(a, s2)
    XCTAssertGreaterThan(a.pointee.slabPool.pages, 0)
    let s3 = arenaAllocSlab(a, sizeClass: other)!
    XCTAssertEqual(a.pointee.slabPool.pages, 0, "a miss empties the pool")
    arenaFreeSlab(a, s3)
  }

  /// A new slab of half a pooled slab's page count, which no pooled slab
  /// has, takes the pooled slab's first half; the second goes back to the
  /// pool as an empty slab of the new slab's class (slabPoolSplit), and the
  /// free extents do not move. A quarter of it is no match: the pool is
  /// emptied as for any other miss.
  func testAPooledSlabIsHalvedForASlabOfHalfItsPages() {
    let a = makePrivateArena()
    guard let big = (0..<config.smallClassCount).first(where: { config.binInfos[$0].slabPages == 4 }),
          let half = (0..<config.smallClassCount).first(where: { config.binInfos[$0].slabPages == 2 }),
          let quarter = (0..<config.smallClassCount).first(where: { config.binInfos[$0].slabPages == 1 })
    else { return XCTFail("no classes with slabs of 4, 2 and 1 pages") }
    let whole = arenaAllocSlab(a, sizeClass: big)!
    let address = whole.pointee.address
    arenaFreeSlab(a, whole)
    XCTAssertEqual(a.pointee.slabPool.pages, 4)
    let freeBefore = freeExtentPageTotal(a)

    let first = arenaAllocSlab(a, sizeClass: half)!
    XCTAssertEqual(first, whole, "the pooled slab's record")
    XCTAssertEqual(first.pointee.address, address)
    XCTAssertEqual(first.pointee.pages, 2)
    XCTAssertEqual(a.pointee.slabPool.pages, 2, "the second half pooled")
    XCTAssertEqual(freeExtentPageTotal(a), freeBefore, "the free extents untouched")
    let second = address + 2 << pageShift
    let map = chunkMeta(address).pageMap
    for i in 0..<2 {
      let index = Int(pageIndexInChunk(second)) + i
      XCTAssertEqual(Int(map[index] >> pageEntryClassShift), half + 1, "page \(i)")
      XCTAssertEqual(binMapValue(map, index), UInt16(truncatingIfNeeded: map[index] >> pageEntryBinOffsetShift))
      guard let piece = pageEntryExtent(map[index]) else { return XCTFail("page \(i) has no record") }
      XCTAssertEqual(piece.pointee.address, second)
      XCTAssertEqual(piece.pointee.slabList, .pooled)
      XCTAssertEqual(Int(piece.pointee.sizeClass), half)
      XCTAssertEqual(piece.bitmap.countSet(), UInt(config.binInfos[half].regionCount), "every region free")
    }
    // The next slab of two pages is the second half.
    let next = arenaAllocSlab(a, sizeClass: half)!
    XCTAssertEqual(next.pointee.address, second)
    XCTAssertEqual(a.pointee.slabPool.pages, 0)
    // Back in the pool, then emptied: one free run of the four pages.
    arenaFreeSlab(a, first)
    arenaFreeSlab(a, next)
    withLock(&a.pointee.extentLock) { slabPoolEmpty(a) }
    XCTAssertEqual(freeExtentPageTotal(a), freeBefore + 4)

    // A 1-page slab does not cut a 4-page one.
    let again = arenaAllocSlab(a, sizeClass: big)!
    arenaFreeSlab(a, again)
    XCTAssertEqual(a.pointee.slabPool.pages, 4)
    let one = arenaAllocSlab(a, sizeClass: quarter)!
    XCTAssertEqual(a.pointee.slabPool.pages, 0, "a miss empties the pool")
    arenaFreeSlab(a, one)
  }

  /// A look that finds no new slab came from the pool since the previous
  /// one empties it (an arena that stopped cycling slabs); a purge empties
  /// it, and dirty_decay_ms:0 (pages back at once) keeps none.
  func testAnUnusedPoolAPurgeAndDecayZeroEmptyIt() {
    let a = makePrivateArena()
    let s = arenaAllocSlab(a, sizeClass: 0)!
    arenaFreeSlab(a, s)
    let pooled = a.pointee.slabPool.pages
    XCTAssertGreaterThan(pooled, 0)
    let s1 = arenaAllocSlab(a, sizeClass: 0)!      // taken from the pool
    arenaFreeSlab(a, s1)
    XCTAssertFalse(withLock(&a.pointee.extentLock) { runCachesTrim(a) }, "used since the last look: kept")
    XCTAssertEqual(a.pointee.slabPool.pages, pooled)
    let dirtyBefore = a.pointee.dirty.pages
    arenaTrimRunCaches(a)
    XCTAssertEqual(a.pointee.slabPool.pages, 0, "unused since the last look: emptied")
    XCTAssertEqual(a.pointee.dirty.pages, dirtyBefore + pooled, "its pages are decay's dirty pages now")

    let s2 = arenaAllocSlab(a, sizeClass: 0)!
    let address = s2.pointee.address
    let bytes = Int(s2.pointee.pages << pageShift)
    memset(UnsafeMutableRawPointer(bitPattern: address)!, 1, bytes)
    arenaFreeSlab(a, s2)
    XCTAssertGreaterThan(a.pointee.slabPool.pages, 0)
    _ = withLock(&a.pointee.extentLock) { arenaPurgeAll(a) }
    XCTAssertEqual(a.pointee.slabPool.pages, 0)
    XCTAssertEqual(residentPageCount(UnsafeMutableRawPointer(bitPattern: address)!, bytes: bytes), 0,
                   "a purge gives the pooled slab's pages back")

    a.pointee.dirtyDecayMs = 0
    let s3 = arenaAllocSlab(a, sizeClass: 0)!
    arenaFreeSlab(a, s3)
    XCTAssertEqual(a.pointee.slabPool.pages, 0)
  }

  /// arena.<i>.dirty_decay_ms set to 0 applies from the next decay step
  /// to every free page: the pool's slabs join the free extents at once.
  func testSettingDirtyDecayToZeroEmptiesThePool() {
    var index: UInt32 = 0
    var length = MemoryLayout<UInt32>.size
    XCTAssertEqual(swallocCtl("arenas.create", &index, &length, nil, 0), 0)
    guard let a = arenaGetOrCreate(Int(index)) else { return XCTFail("no arena \(index)") }
    let s = arenaAllocSlab(a, sizeClass: 0)!
    arenaFreeSlab(a, s)
    XCTAssertGreaterThan(withLock(&a.pointee.extentLock) { a.pointee.slabPool.pages }, 0)
    var zero = 0
    XCTAssertEqual(swallocCtl("arena.\(index).dirty_decay_ms", nil, nil, &zero, MemoryLayout<Int>.size), 0)
    XCTAssertEqual(withLock(&a.pointee.extentLock) { a.pointee.slabPool.pages }, 0)
    XCTAssertEqual(withLock(&a.pointee.extentLock) { a.pointee.dirtyDecayMs }, 0)
  }

  private func recordCacheCount(_ a: UnsafeMutablePointer<Arena>) -> Int {
    var n = 0
    var r = a.pointee.recordCache
    while let cur = r { n += 1; r = cur.pointee.next }
    return n
  }

  /// Emptying the pool frees each run of address-adjacent pooled slabs as
  /// one extent (slabPoolEmpty): the result is what freeing them one by
  /// one made (the same free extents, page states and cleared page-map
  /// entries), and every record it no longer needs goes back to the
  /// arena's record cache. Pooled in allocation order and against it (the
  /// pool's lists then run down and up in address).
  func testAdjacentPooledSlabsGoBackAsOneRun() {
    for reversed in [false, true] {
      let a = makePrivateArena()
      let pages = UInt(config.binInfos[0].slabPages)
      let bytes = pages << pageShift
      let slabs = (0..<6).map { _ in arenaAllocSlab(a, sizeClass: 0)! }
      for i in 1..<6 {
        XCTAssertEqual(slabs[i].pointee.address, slabs[i - 1].pointee.address + bytes, "carved one after another")
      }
      // Slab 3 stays in use: slabs 0-2 and 4-5 are two runs.
      let live = slabs[3]
      let liveAddress = live.pointee.address
      let freeBefore = freeExtentPageTotal(a)
      let dirtyBefore = a.pointee.dirty.pages
      let recordsBefore = recordCacheCount(a)
      let tailBefore = pageEntryExtent(pageEntry(slabs[5].pointee.address + bytes))
      XCTAssertEqual(tailBefore?.pointee.state, .free, "the chunk's free rest follows the slabs")
      let order = reversed ? [5, 4, 2, 1, 0] : [0, 1, 2, 4, 5]
      let addresses = slabs.map { $0.pointee.address }
      for i in order { arenaFreeSlab(a, slabs[i]) }
      XCTAssertEqual(a.pointee.slabPool.pages, 5 * pages)
      withLock(&a.pointee.extentLock) { slabPoolEmpty(a) }
      XCTAssertEqual(a.pointee.slabPool.pages, 0)
      XCTAssertEqual(freeExtentPageTotal(a), freeBefore + 5 * pages)
      XCTAssertEqual(a.pointee.dirty.pages, dirtyBefore + 5 * pages)
      // Slabs 0-2: one free extent ending where the live slab starts.
      guard let first = pageEntryExtent(pageEntry(addresses[0])) else { return XCTFail("slab 0's pages map to nothing") }
      XCTAssertEqual(first.pointee.state, .free)
      XCTAssertEqual(first.pointee.address + (first.pointee.pages << pageShift), liveAddress)
      XCTAssertEqual(first.pointee.dirtyPages, UInt32(3 * pages))
      // Slabs 4-5 joined the chunk's free rest.
      guard let second = pageEntryExtent(pageEntry(addresses[4])) else { return XCTFail("slab 4's pages map to nothing") }
      XCTAssertEqual(second.pointee.state, .free)
      XCTAssertEqual(second.pointee.address, addresses[4])
      XCTAssertEqual(second.pointee.dirtyPages, UInt32(2 * pages))
      // No page of the freed slabs keeps a class; the live slab's all do.
      for i in [0, 1, 2, 4, 5] {
        for p in 0..<pages {
          XCTAssertEqual(pageEntry(addresses[i] + p << pageShift) >> pageEntryClassShift, 0)
        }
      }
      for p in 0..<pages {
        XCTAssertEqual(Int(pageEntry(liveAddress + p << pageShift) >> pageEntryClassShift), 1)
        XCTAssertEqual(pageEntryExtent(pageEntry(liveAddress + p << pageShift)), live)
      }
      // Records: 6 slabs and the free rest before; the live slab and two
      // free extents after. The other 4 are in the cache.
      XCTAssertEqual(recordCacheCount(a), recordsBefore + 4)
      arenaFreeSlab(a, live)
    }
  }

  func testThePoolHoldsAtMostItsBudget() {
    let a = makePrivateArena()
    let pages = UInt(config.binInfos[0].slabPages)
    let count = Int(slabPoolBudgetPages / pages) + 3
    let slabs = (0..<count).map { _ in arenaAllocSlab(a, sizeClass: 0)! }
    for s in slabs { arenaFreeSlab(a, s) }
    XCTAssertLessThanOrEqual(a.pointee.slabPool.pages, slabPoolBudgetPages)
    XCTAssertGreaterThan(a.pointee.slabPool.pages, slabPoolBudgetPages - pages)
    var pooled: UInt = 0
    for i in 0..<a.pointee.slabPool.heads.count {
      var e = a.pointee.slabPool.heads[i]
      while let cur = e {
        XCTAssertEqual(cur.pointee.pages, UInt(i + 1))
        pooled += cur.pointee.pages
        e = cur.pointee.next
      }
    }
    XCTAssertEqual(pooled, a.pointee.slabPool.pages)
    XCTAssertEqual(maxSlabPages, UInt(a.pointee.slabPool.heads.count), "a head for every slab size")
  }
}

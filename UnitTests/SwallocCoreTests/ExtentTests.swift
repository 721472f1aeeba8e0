import XCTest
@testable import SwallocCore

final class ExtentTests: XCTestCase {
  override func setUp() { XCTAssertTrue(ensureBooted()) }

  func testBucketsAreMonotonicAndFourPerDoubling() {
    XCTAssertEqual((1...9).map { extentBucket(pages: $0) }, [0, 1, 2, 3, 4, 5, 6, 7, 7])
    var previous = 0
    for pages: UInt in 1...4096 {
      let b = extentBucket(pages: pages)
      XCTAssertGreaterThanOrEqual(b, previous)
      XCTAssertLessThan(b, extentBucketCount)
      previous = b
    }
    XCTAssertEqual(extentBucket(pages: 16) - extentBucket(pages: 8), 4)
  }

  /// What a slab's region traffic touches, and what a large run's
  /// thread-cache free tests when profiling (Extent's layout note), lies
  /// in the record's first 64 bytes, the bitmap where `bitmap` reads it,
  /// and the record holds the bitmap of the fullest slab. `sampled`
  /// follows profSample.
  func testASlabsRegionFieldsShareTheRecordsFirstLine() {
    let slabFields: [PartialKeyPath<Extent>] = [\.address, \.next, \.prev, \.freeRegions, \.sizeClass, \.state, \.slabList,
                                                \.sampled]
    for field in slabFields {
      let offset = MemoryLayout<Extent>.offset(of: field)!
      XCTAssertLessThan(offset, extentBitmapOffset)
    }
    XCTAssertEqual(MemoryLayout<Extent>.offset(of: \.bitmapWords), extentBitmapOffset)
    XCTAssertEqual(extentBitmapOffset + Int(extentBitmapWords) * 8, 64)
    XCTAssertLessThanOrEqual(Bitmap.wordCount(bits: config.maxRegionsPerSlab), extentBitmapWords)
    XCTAssertEqual(config.extentRecordSize % 64, 0)
    XCTAssertGreaterThanOrEqual(config.extentRecordSize, UInt(MemoryLayout<Extent>.stride))
    let record = UnsafeMutablePointer<Extent>.allocate(capacity: 1)
    defer { record.deallocate() }
    record.initialize(to: Extent())
    record.pointee.sizeClass = 0   // the 16-byte class: 256 regions, all four words
    record.bitmap.setAll()
    XCTAssertEqual(record.bitmap.countSet(), UInt(config.binInfos[0].regionCount))
    XCTAssertEqual(record.pointee.bitmapWords.3, UInt64.max)
    XCTAssertEqual(record.pointee.pages, 0)
    XCTAssertEqual(record.pointee.freeRegions, 0)
    XCTAssertFalse(record.pointee.sampled)
    record.pointee.profSample = UnsafeMutableRawPointer(record)
    XCTAssertTrue(record.pointee.sampled)
    record.pointee.profSample = nil
    XCTAssertFalse(record.pointee.sampled)
  }


  private func freeExtentPages(_ a: UnsafeMutablePointer<Arena>) -> [UInt] {
    var result: [UInt] = []
    for b in 0..<extentBucketCount {
      var e = a.pointee.freeExtents.heads[b].first
      while let cur = e { result.append(cur.pointee.pages); e = cur.pointee.next }
    }
    return result.sorted()
  }

  func testSplitAndCoalesce() {
    let a = makePrivateArena()
    mutexLock(&a.pointee.extentLock)
    defer { mutexUnlock(&a.pointee.extentLock) }
    let usable = chunkUsablePages
    let x = arenaAllocPages(a, pages: 4, alignPages: 1)!
    x.pointee.state = .large
    let y = arenaAllocPages(a, pages: 8, alignPages: 1)!
    y.pointee.state = .large
    let z = arenaAllocPages(a, pages: 2, alignPages: 1)!
    z.pointee.state = .large
    XCTAssertEqual(a.pointee.chunkCount, 1)
    // Address-ordered: consecutive runs from the chunk start.
    XCTAssertEqual(y.pointee.address, x.end)
    XCTAssertEqual(z.pointee.address, y.end)
    XCTAssertEqual(freeExtentPages(a), [usable - 14])

    arenaFreePages(a, y)                      // a hole between x and z
    XCTAssertEqual(freeExtentPages(a), [8, usable - 14])
    // Best fit: a 6-page request takes the 8-page hole, not the big tail.
    let w = arenaAllocPages(a, pages: 6, alignPages: 1)!
    w.pointee.state = .large
    XCTAssertEqual(w.pointee.address, x.end)
    XCTAssertEqual(freeExtentPages(a), [2, usable - 14])
    arenaFreePages(a, w)
    XCTAssertEqual(freeExtentPages(a), [8, usable - 14])
    arenaFreePages(a, x)                      // coalesces with the hole on its right
    XCTAssertEqual(freeExtentPages(a), [12, usable - 14])
    arenaFreePages(a, z)                      // joins both sides: the whole chunk again
    XCTAssertEqual(freeExtentPages(a), [usable])
    XCTAssertEqual(a.pointee.emptyChunkCount, 1)
  }

  func testAlignedRunsSplitOffTheirHead() {
    let a = makePrivateArena()
    mutexLock(&a.pointee.extentLock)
    defer { mutexUnlock(&a.pointee.extentLock) }
    let e = arenaAllocPages(a, pages: 3, alignPages: 64)!
    e.pointee.state = .large
    XCTAssertEqual(e.pointee.address % (64 * pageSize), 0)
    XCTAssertEqual(e.pointee.pages, 3)
    XCTAssertEqual(freeExtentPages(a).reduce(0, +), chunkUsablePages - 3)
    arenaFreePages(a, e)
    XCTAssertEqual(freeExtentPages(a), [chunkUsablePages])
  }

  /// A page run of arena `a` (its extent lock held) marked as a large
  /// block, as arenaAllocLarge would.
  private func takeLargeRun(_ a: UnsafeMutablePointer<Arena>, _ pages: UInt, align: UInt = 1) -> UnsafeMutablePointer<Extent> {
    let e = arenaAllocPages(a, pages: pages, alignPages: align)!
    e.pointee.state = .large
    return e
  }

  /// Every free extent's dirty and muzzy counts against the chunk's
  /// page-state bits, and the arena's totals against the extents'.
  private func assertExactPageCounts(_ a: UnsafeMutablePointer<Arena>, _ step: String) {
    var dirty: UInt = 0, muzzy: UInt = 0
    for b in 0..<extentBucketCount {
      var e = a.pointee.freeExtents.heads[b].first
      while let cur = e {
        let counted = pageStateCount(cur.pointee.address, pages: cur.pointee.pages)
        XCTAssertEqual(UInt(cur.pointee.dirtyPages), counted.dirty, "\(step): dirty pages of a free extent")
        XCTAssertEqual(UInt(cur.pointee.muzzyPages), counted.muzzy, "\(step): muzzy pages of a free extent")
        dirty += UInt(cur.pointee.dirtyPages)
        muzzy += UInt(cur.pointee.muzzyPages)
        e = cur.pointee.next
      }
    }
    XCTAssertEqual(a.pointee.dirty.pages, dirty, "\(step): the arena's dirty pages")
    XCTAssertEqual(a.pointee.muzzyPagesTotal, muzzy, "\(step): the arena's muzzy pages")
  }

  func testSplitsCountTheirPiecesExactly() {
    // arenaAllocPages leaves what remains of the extent (carved in place,
    // or a split-off tail) its counts less the pages taken (no pass over
    // the rest's bitmap words): runs taken from an extent of dirty, muzzy
    // and never-used pages, one aligned (a head split off too), one across
    // a bitmap word.
    let a = makePrivateArena()
    a.pointee.dirtyDecayMs = -1
    a.pointee.muzzyDecayMs = -1
    mutexLock(&a.pointee.extentLock)
    defer { mutexUnlock(&a.pointee.extentLock) }
    func take(_ pages: UInt, align: UInt = 1) -> UnsafeMutablePointer<Extent> { takeLargeRun(a, pages, align: align) }
    _ = take(1)                 // page 0 stays in use
    let x = take(5)             // 1..<6
    let y = take(26)            // 6..<32
    let z = take(8)             // 32..<40
    let v = take(30)            // 40..<70
    arenaFreePages(a, y)
    purgeExtent(a, y, lazily: true)   // 26 muzzy pages (MADV_FREE), or zeroed where refused
    arenaFreePages(a, x)
    arenaFreePages(a, z)
    arenaFreePages(a, v)        // 1..<1024: 43 dirty, 26 muzzy, the rest never used
    assertExactPageCounts(a, "freed")
    let aligned = take(3, align: 4)
    XCTAssertEqual(aligned.pointee.address & (4 * pageSize - 1), 0)
    assertExactPageCounts(a, "aligned run")
    let wide = take(70)
    XCTAssertEqual(wide.pointee.contents, .dirty)
    assertExactPageCounts(a, "run across a bitmap word")
    arenaFreePages(a, aligned)
    arenaFreePages(a, wide)
    assertExactPageCounts(a, "freed again")
  }

  /// A run taken from the front of a free extent leaves the rest in that
  /// extent's place: its decay list position (its pages' age) and, when
  /// the run took all its dirty pages, the muzzy list, with exact counts.
  /// (Split into a new tail record, the rest was filed as just freed.)
  func testARunCarvedFromAFreeExtentLeavesTheRestItsAge() {
    let a = makePrivateArena()
    a.pointee.dirtyDecayMs = -1
    a.pointee.muzzyDecayMs = -1
    mutexLock(&a.pointee.extentLock)
    defer { mutexUnlock(&a.pointee.extentLock) }
    func take(_ pages: UInt) -> UnsafeMutablePointer<Extent> { takeLargeRun(a, pages) }
    let older = take(10)        // 0..<10
    _ = take(1)                 // 10 stays in use
    let newer = take(20)        // 11..<31
    _ = take(1)                 // 31 stays in use
    let olderStart = older.pointee.address
    arenaFreePages(a, older)
    arenaFreePages(a, newer)
    XCTAssertEqual(a.pointee.dirty.lru.first?.pointee.address, olderStart)
    // 4 pages: the 10-page extent is the best fit.
    let run = take(4)
    XCTAssertEqual(run.pointee.address, olderStart)
    XCTAssertEqual(run.pointee.contents, .dirty)
    let rest = a.pointee.dirty.lru.first!
    XCTAssertEqual(rest.pointee.address, olderStart + 4 * pageSize, "the rest is still the oldest")
    XCTAssertEqual(rest.pointee.pages, 6)
    XCTAssertEqual(UInt(rest.pointee.dirtyPages), 6)
    XCTAssertEqual(pageEntryExtent(pageEntry(rest.pointee.address)), rest)
    XCTAssertEqual(pageEntryExtent(pageEntry(rest.end - pageSize)), rest)
    assertExactPageCounts(a, "carved")
    // A dirty front and a muzzy rest: a run of the dirty pages leaves an
    // extent of muzzy pages only, on the muzzy list.
    let back = take(6)          // the rest, 4..<10: an exact fit
    XCTAssertEqual(back.pointee.address, olderStart + 4 * pageSize)
    arenaFreePages(a, back)
    purgeExtent(a, pageEntryExtent(pageEntry(olderStart + 4 * pageSize))!, lazily: true)
    let purged = pageEntryExtent(pageEntry(olderStart + 4 * pageSize))!
    if purged.pointee.contents == .muzzy {   // (MADV_FREE refused: zeroed, nothing more to see)
      arenaFreePages(a, run)    // 0..<4, dirty, joins the muzzy 4..<10
      let mixed = pageEntryExtent(pageEntry(olderStart))!
      XCTAssertEqual(mixed.pointee.pages, 10)
      XCTAssertEqual(mixed.pointee.contents, .dirty)
      XCTAssertEqual(UInt(mixed.pointee.dirtyPages), 4)
      XCTAssertEqual(UInt(mixed.pointee.muzzyPages), 6)
      let dirtyFront = take(4)
      XCTAssertEqual(dirtyFront.pointee.address, olderStart)
      XCTAssertEqual(dirtyFront.pointee.contents, .dirty)
      let left = pageEntryExtent(pageEntry(olderStart + 4 * pageSize))!
      XCTAssertEqual(left.pointee.contents, .muzzy)
      XCTAssertEqual(UInt(left.pointee.muzzyPages), 6)
      XCTAssertEqual(a.pointee.muzzy.lru.first, left)
      assertExactPageCounts(a, "dirty front carved from a muzzy rest")
    }
  }

  func testLargeReallocGrowsAndShrinksInPlace() {
    let p = swallocMalloc(20_000)!
    memset(p, 0x5A, 20_000)
    let grown = swallocRealloc(p, 100_000)!
    let shrunk = swallocRealloc(grown, 40_000)!
    XCTAssertEqual(shrunk, grown)
    XCTAssertEqual(swallocMallocUsableSize(shrunk), 40960)
    let bytes = shrunk.assumingMemoryBound(to: UInt8.self)
    for i in 0..<20_000 { if bytes[i] != 0x5A { XCTFail("byte \(i) lost"); break } }
    swallocFree(shrunk)
  }

  /// Regression: shrinking a large run in place once left a stale page-map
  /// entry that the freed tail's coalescing followed into another extent.
  func testRandomResizeSequenceKeepsExtentsConsistent() {
    var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
    func next() -> UInt { seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17; return UInt(seed % 100_000) + 1 }
    for _ in 0..<20_000 {
      let s1 = next(), s2 = next()
      var p = swallocCalloc(1, s1)!
      p = swallocRealloc(p, s2)!
      XCTAssertGreaterThanOrEqual(swallocMallocUsableSize(p), s2)
      swallocFree(p)
      let a = swallocMemalign(256, s1)!
      XCTAssertEqual(UInt(bitPattern: a) % 256, 0)
      swallocFree(a)
    }
  }
}

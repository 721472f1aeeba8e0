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

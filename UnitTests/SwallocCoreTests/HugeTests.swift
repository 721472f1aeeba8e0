import XCTest
@testable import SwallocCore
#if canImport(Glibc)
import Glibc
#endif

/// The huge-mapping cache: reuse of a bigger mapping splits its surplus off
/// as a cached mapping of its own, a smaller one is grown by remapping, and
/// either way calloc's memory reads zero.
final class HugeTests: XCTestCase {
  override func setUp() {
    XCTAssertTrue(ensureBooted())
    XCTAssertGreaterThan(config.opt.dirtyDecayMs, 0, "the cache is off with dirty_decay_ms:0")
    _ = hugeCacheDrop(olderThanMs: -1)
  }

  override func tearDown() { _ = hugeCacheDrop(olderThanMs: -1) }

  func testABigCachedMappingIsSplitAndItsTailReused() {
    let big = swallocMalloc(32 << 20)!
    memset(big, 0x5c, 32 << 20)
    swallocFree(big)
    XCTAssertEqual(hugeCacheEntries, 1)
    // 3 MiB from the 32 MiB mapping: the first chunk serves it, the other
    // 28 MiB stay cached as their own mapping.
    let small = swallocMalloc(3 << 20)!
    XCTAssertEqual(small, big)
    XCTAssertEqual(hugeCacheEntries, 1)
    XCTAssertEqual(hugeCacheBytes, 28 << 20)
    // The tail serves the next request without a new mapping.
    let next = swallocCalloc(1, 20 << 20)!
    XCTAssertEqual(UInt(bitPattern: next), UInt(bitPattern: big) + (4 << 20))
    XCTAssertEqual(hugeCacheEntries, 0)
    let bytes = next.assumingMemoryBound(to: UInt8.self)
    XCTAssertTrue(stride(from: 0, to: 20 << 20, by: 4093).allSatisfy { bytes[$0] == 0 }, "calloc from the cache reads zero")
    swallocFree(small)
    swallocFree(next)
  }

  /// A huge block grown in place by a page at a time (an array appended
  /// to) extends its mapping by an eighth beyond the size asked: the next
  /// growths stay within it (no mremap), the usable size is what was asked
  /// each time, and the contents stay.
  func testGrowingInPlaceLeavesRoomForTheNextGrowths() {
    let size: UInt = 3 << 20
    var p = swallocMalloc(size)!
    memset(p, 0x3c, Int(size))
    let record = UnsafeMutablePointer<Extent>(bitPattern: pageMapLookup(UInt(bitPattern: p)))!
    XCTAssertEqual(record.pointee.address, UInt(bitPattern: p))
    let grownSize = size + pageSize
    var q = swallocRealloc(p, grownSize)!
    if q != p {
      // The pages after the mapping were taken (by another test's mapping):
      // the block moved; its new mapping is where the rule applies.
      p = q
      q = swallocRealloc(p, grownSize + pageSize)!
      XCTAssertEqual(q, p, "a moved block grows in place")
    }
    let grown = UnsafeMutablePointer<Extent>(bitPattern: pageMapLookup(UInt(bitPattern: q)))!
    let usable = swallocMallocUsableSize(q)
    XCTAssertEqual(UInt(grown.pointee.pages) << pageShift, usable, "the usable size is the page-rounded request")
    XCTAssertGreaterThanOrEqual(grown.pointee.mappedPages << pageShift, usable + (usable >> hugeGrowthRoomShift),
                                "the mapping has room beyond the request")
    let mapped = grown.pointee.mappedPages
    // Growths within that room keep the mapping as it is.
    var size2 = usable
    while (size2 + pageSize) <= mapped << pageShift {
      size2 += pageSize
      let r = swallocRealloc(q, size2)!
      XCTAssertEqual(r, q)
      XCTAssertEqual(swallocMallocUsableSize(r), size2)
      XCTAssertEqual(grown.pointee.mappedPages, mapped, "no new mapping within the room")
    }
    let bytes = q.assumingMemoryBound(to: UInt8.self)
    XCTAssertTrue(stride(from: 0, to: Int(size), by: 4093).allSatisfy { bytes[$0] == 0x3c })
    swallocFree(q)
  }

  func testASmallerCachedMappingIsGrownByRemapping() {
    let first = swallocMalloc(3 << 20)!
    memset(first, 0x7e, 3 << 20)
    swallocFree(first)
    XCTAssertEqual(hugeCacheEntries, 1)
    // 10 MiB: no cached mapping holds it, so the 3 MiB one moves onto a
    // 10 MiB range, its old pages first; calloc clears those, the rest is fresh.
    let grown = swallocCalloc(1, 10 << 20)!
    XCTAssertEqual(hugeCacheEntries, 0, "the cached mapping was used")
    XCTAssertEqual(UInt(bitPattern: grown) & chunkMask, 0, "chunk-aligned")
    XCTAssertEqual(swallocMallocUsableSize(grown), 10 << 20)
    let bytes = grown.assumingMemoryBound(to: UInt8.self)
    XCTAssertTrue(stride(from: 0, to: 10 << 20, by: 4093).allSatisfy { bytes[$0] == 0 })
    memset(grown, 1, 10 << 20)
    swallocFree(grown)
  }

  /// A cached mapping's pages do not wait resident while an arena takes
  /// pages that are not, at the high-water mark: a fresh arena's 1 MiB
  /// large run and a 1 MiB in-place growth of it each purge 1 MiB of the
  /// cached mapping, from its end (mincore), and the cache counts only the
  /// rest as possibly resident.
  /// A calloc that reuses the mapping then reads zero everywhere, clearing
  /// only the part still resident. (Before, the whole mapping stayed
  /// resident until reused or unmapped: bench realloc-grow.)
  func testArenaGrowthPurgesCachedMappingsFirst() {
    let size = 8 << 20
    let huge = swallocMalloc(UInt(size))!
    memset(huge, 0xab, size)
    swallocFree(huge)
    XCTAssertEqual(hugeCacheEntries, 1)
    XCTAssertEqual(hugeCacheDirtyBytes.load(ordering: .relaxed), UInt(size))
    XCTAssertEqual(residentPageCount(huge, bytes: size), size >> Int(pageShift))

    let a = makePrivateArena()
    // What may be resident now is the high-water mark: each page the arena
    // takes fresh would raise the peak (below it nothing is shed:
    // DecayTests.testGrowingBelowTheHighWaterMarkKeepsStaleDirtyPages).
    residentHighWaterPages.store(residentEstimate(), ordering: .relaxed)
    let run = arenaAllocLarge(a, sizeClass: classIndexFor(1 << 20), bytes: bootedClassSize(classIndexFor(1 << 20)), alignment: pageSize, zero: false)!
    XCTAssertEqual(hugeCacheDirtyBytes.load(ordering: .relaxed), UInt(size - (1 << 20)))
    XCTAssertEqual(residentPageCount(huge, bytes: size), (size - (1 << 20)) >> Int(pageShift))
    XCTAssertEqual(residentPageCount(huge + (size - (1 << 20)), bytes: 1 << 20), 0, "purged from the end")
    let e = pageEntryExtent(pageEntry(UInt(bitPattern: run)))!
    XCTAssertTrue(arenaResizeLargeInPlace(a, e, newClass: classIndexFor(2 << 20), bytes: 2 << 20))
    XCTAssertEqual(hugeCacheDirtyBytes.load(ordering: .relaxed), UInt(size - (2 << 20)))
    XCTAssertEqual(residentPageCount(huge, bytes: size), (size - (2 << 20)) >> Int(pageShift))
    arenaFreeLarge(a, address: UInt(bitPattern: run), fromThreadCache: false)

    let again = swallocCalloc(1, UInt(size))!
    XCTAssertEqual(again, huge, "the cached mapping was reused")
    XCTAssertEqual(hugeCacheDirtyBytes.load(ordering: .relaxed), 0)
    let bytes = again.assumingMemoryBound(to: UInt8.self)
    XCTAssertTrue(stride(from: 0, to: size, by: 4093).allSatisfy { bytes[$0] == 0 }, "calloc reads zero")
    XCTAssertEqual(bytes[size - (2 << 20) - 1], 0)
    XCTAssertEqual(bytes[size - (2 << 20)], 0)
    swallocFree(again)
  }

  /// An arena growing a page at a time sheds the cache 16 pages at once:
  /// one madvise for the first page, none for the next 15 (credited), the
  /// next 16 at the 17th.
  func testSheddingIsRoundedToSixteenPages() {
    let huge = swallocMalloc(4 << 20)!
    memset(huge, 1, 4 << 20)
    swallocFree(huge)
    let full = UInt(4 << 20)
    XCTAssertEqual(hugeCacheDirtyBytes.load(ordering: .relaxed), full)
    withLock(&hugeCacheLock) { hugeShedCredit = 0 }
    let a = makePrivateArena()
    mutexLock(&a.pointee.extentLock)
    var shed: [UInt] = []
    for _ in 0..<17 {
      // Every page taken past the high-water mark (below it nothing is
      // shed: DecayTests.testGrowingBelowTheHighWaterMarkKeepsStaleDirtyPages).
      residentHighWaterPages.store(0, ordering: .relaxed)
      let e = arenaAllocPages(a, pages: 1, alignPages: 1)!
      e.pointee.state = .large
      shed.append((full &- hugeCacheDirtyBytes.load(ordering: .relaxed)) >> pageShift)
    }
    mutexUnlock(&a.pointee.extentLock)
    XCTAssertEqual(shed, Array(repeating: UInt(16), count: 16) + [32])
  }
}

import XCTest
@testable import SwallocCore

/// The arena's large-run cache (LargeAndSlabs.swift): freed large runs of
/// up to 64 KiB kept for the next run of their class, which gets the same
/// pages back; bounded, given back when unused, by purges and with
/// dirty_decay_ms:0.
final class LargeRunCacheTests: XCTestCase {
  override func setUp() { XCTAssertTrue(ensureBooted()) }

  /// The first large class of `pages` pages.
  private func largeClass(pages: UInt) -> Int {
    var c = config.smallClassCount
    while sizeClassSize(c) >> pageShift != pages { c += 1 }
    return c
  }

  func testAFreedRunIsReusedAtItsAddressByTheNextRunOfItsSize() {
    let a = makePrivateArena()
    let c = largeClass(pages: 5)
    let p = arenaAllocLarge(a, sizeClass: c, bytes: bootedClassSize(c), alignment: pageSize, zero: false)!
    let address = UInt(bitPattern: p)
    memset(p, 0xAB, Int(sizeClassSize(c)))
    let dirtyBefore = a.pointee.dirty.pages
    arenaFreeLarge(a, address: address, fromThreadCache: false)
    XCTAssertEqual(a.pointee.largeCache.pages, 5)
    XCTAssertEqual(a.pointee.dirty.pages, dirtyBefore, "a cached run's pages are not in the free extents")
    XCTAssertEqual(a.pointee.largeCount, 0, "no longer a live block")
    // A free of it again meets its cached mark (a double free).
    XCTAssertNotEqual(pageEntry(address) & pageEntryCachedBit, 0)

    let q = arenaAllocLarge(a, sizeClass: c, bytes: bootedClassSize(c), alignment: pageSize, zero: true)!
    XCTAssertEqual(UInt(bitPattern: q), address, "the same pages back")
    XCTAssertEqual(a.pointee.largeCache.pages, 0)
    XCTAssertEqual(pageEntry(address) & pageEntryCachedBit, 0)
    XCTAssertEqual(Int(pageEntry(address) >> pageEntryClassShift), c + 1)
    let bytes = q.assumingMemoryBound(to: UInt8.self)
    XCTAssertTrue((0..<Int(sizeClassSize(c))).allSatisfy { bytes[$0] == 0 }, "zeroed as asked")
    guard case .large(_, let e, let have) = lookupAllocation(q, "test") else { return XCTFail("not a large block") }
    XCTAssertEqual(have, c)
    XCTAssertEqual(e.pointee.slabList, .full)
    arenaFreeLarge(a, address: address, fromThreadCache: false)
  }

  /// A run of another size, or an aligned one, is carved as before: the
  /// cache serves only its own page count.
  func testOnlyARunOfTheSameSizeTakesACachedOne() {
    let a = makePrivateArena()
    let c5 = largeClass(pages: 5)
    let c6 = largeClass(pages: 6)
    let p = arenaAllocLarge(a, sizeClass: c5, bytes: bootedClassSize(c5), alignment: pageSize, zero: false)!
    arenaFreeLarge(a, address: UInt(bitPattern: p), fromThreadCache: false)
    let q = arenaAllocLarge(a, sizeClass: c6, bytes: bootedClassSize(c6), alignment: pageSize, zero: false)!
    XCTAssertNotEqual(q, p)
    XCTAssertEqual(a.pointee.largeCache.pages, 5)
    let r = arenaAllocLarge(a, sizeClass: c5, bytes: bootedClassSize(c5), alignment: 8 * pageSize, zero: false)!
    XCTAssertEqual(UInt(bitPattern: r) % (8 * pageSize), 0)
    XCTAssertEqual(a.pointee.largeCache.pages, 5, "an aligned run is carved")
    arenaFreeLarge(a, address: UInt(bitPattern: q), fromThreadCache: false)
    arenaFreeLarge(a, address: UInt(bitPattern: r), fromThreadCache: false)
  }

  /// A look that finds no run came from the cache since the previous one
  /// empties it; a purge empties it; dirty_decay_ms:0 keeps none; it holds
  /// at most its budget.
  func testTheCacheIsBoundedAndGivenBack() {
    let a = makePrivateArena()
    let c = largeClass(pages: 4)
    let p = arenaAllocLarge(a, sizeClass: c, bytes: bootedClassSize(c), alignment: pageSize, zero: false)!
    arenaFreeLarge(a, address: UInt(bitPattern: p), fromThreadCache: false)
    XCTAssertEqual(a.pointee.largeCache.pages, 4)
    let q = arenaAllocLarge(a, sizeClass: c, bytes: bootedClassSize(c), alignment: pageSize, zero: false)!
    arenaFreeLarge(a, address: UInt(bitPattern: q), fromThreadCache: false)
    XCTAssertFalse(withLock(&a.pointee.extentLock) { runCachesTrim(a) }, "used since the last look: kept")
    XCTAssertEqual(a.pointee.largeCache.pages, 4)
    let dirtyBefore = a.pointee.dirty.pages
    XCTAssertTrue(withLock(&a.pointee.extentLock) { runCachesTrim(a) }, "unused since: emptied")
    XCTAssertEqual(a.pointee.largeCache.pages, 0)
    XCTAssertEqual(a.pointee.dirty.pages, dirtyBefore + 4, "its pages are decay's dirty pages now")
    XCTAssertEqual(pageEntry(UInt(bitPattern: q)) >> pageEntryClassShift, 0)

    let r = arenaAllocLarge(a, sizeClass: c, bytes: bootedClassSize(c), alignment: pageSize, zero: false)!
    memset(r, 1, Int(sizeClassSize(c)))
    arenaFreeLarge(a, address: UInt(bitPattern: r), fromThreadCache: false)
    XCTAssertEqual(a.pointee.largeCache.pages, 4)
    _ = withLock(&a.pointee.extentLock) { arenaPurgeAll(a) }
    XCTAssertEqual(a.pointee.largeCache.pages, 0)
    XCTAssertEqual(residentPageCount(r, bytes: Int(sizeClassSize(c))), 0, "a purge gives its pages back")

    let count = Int(largeCacheBudgetPages / 4) + 3
    let runs = (0..<count).map { _ in arenaAllocLarge(a, sizeClass: c, bytes: bootedClassSize(c), alignment: pageSize, zero: false)! }
    for run in runs { arenaFreeLarge(a, address: UInt(bitPattern: run), fromThreadCache: false) }
    XCTAssertEqual(a.pointee.largeCache.pages, largeCacheBudgetPages)

    a.pointee.dirtyDecayMs = 0
    withLock(&a.pointee.extentLock) { largeCacheEmpty(a) }
    let s = arenaAllocLarge(a, sizeClass: c, bytes: bootedClassSize(c), alignment: pageSize, zero: false)!
    arenaFreeLarge(a, address: UInt(bitPattern: s), fromThreadCache: false)
    XCTAssertEqual(a.pointee.largeCache.pages, 0, "dirty_decay_ms:0 keeps none")
  }

  /// An arena holding many large runs may cache up to half their pages
  /// (largeCacheBudget), beyond the 2 MiB every arena may keep; the bound
  /// follows the live runs down as they are freed.
  func testTheBudgetGrowsWithTheArenasLiveLargeRuns() {
    let a = makePrivateArena()
    let c = largeClass(pages: 4)
    let count = Int(largeCacheBudgetPages) * 2   // 8 MiB of 16 KiB runs
    let runs = (0..<count).map { _ in arenaAllocLarge(a, sizeClass: c, bytes: bootedClassSize(c), alignment: pageSize, zero: false)! }
    XCTAssertEqual(a.pointee.largeBytes >> pageShift, UInt(count) * 4)
    // The rule, run alongside: a freed run is kept while the cache stays
    // within half the pages still live (the freed run's not counted).
    var live = UInt(count) * 4
    var expected: UInt = 0
    func free(_ run: UnsafeMutableRawPointer) {
      arenaFreeLarge(a, address: UInt(bitPattern: run), fromThreadCache: false)
      live -= 4
      if expected + 4 <= max(largeCacheBudgetPages, live / 2) { expected += 4 }
    }
    for run in runs.prefix(count / 2) { free(run) }
    XCTAssertGreaterThan(a.pointee.largeCache.pages, largeCacheBudgetPages, "more than the fixed 2 MiB")
    XCTAssertEqual(a.pointee.largeCache.pages, expected)
    for run in runs.suffix(count / 2) { free(run) }
    XCTAssertEqual(a.pointee.largeCache.pages, expected, "none kept beyond half the live pages")
    XCTAssertEqual(a.pointee.largeBytes, 0)
    withLock(&a.pointee.extentLock) { largeCacheEmpty(a) }
    XCTAssertEqual(a.pointee.largeCache.pages, 0)
  }
}

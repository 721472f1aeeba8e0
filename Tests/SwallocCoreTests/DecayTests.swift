import XCTest
@testable import SwallocCore
#if canImport(Glibc)
import Glibc
#endif

final class DecayTests: XCTestCase {
  override func setUp() { XCTAssertTrue(ensureBooted()) }


  func testDirtyPagesDecayToZeroAfterTheDecayTime() {
    let savedDecay = optDirtyDecayMs
    optDirtyDecayMs = 64
    defer { optDirtyDecayMs = savedDecay }
    let a = makePrivateArena()
    mutexLock(&a.pointee.extentLock)
    var runs: [UnsafeMutablePointer<Extent>] = []
    for _ in 0..<40 {
      let e = arenaAllocPages(a, pages: 16, alignPages: 1)!
      e.pointee.state = .large
      runs.append(e)
    }
    for e in runs { arenaFreePages(a, e) }
    let dirtyRightAfter = a.pointee.dirty.pages
    mutexUnlock(&a.pointee.extentLock)
    XCTAssertGreaterThan(dirtyRightAfter, 0, "just-freed pages stay resident for a while")
    usleep(150_000)
    mutexLock(&a.pointee.extentLock)
    decayTick(a)
    XCTAssertEqual(a.pointee.dirty.pages, 0, "all dirty pages purged once decay_ms has passed")
    XCTAssertNil(a.pointee.dirty.lruHead)
    mutexUnlock(&a.pointee.extentLock)
  }

  func testSmoothstepWeightsFallFromOneToZero() {
    let ring = UnsafeMutablePointer<UInt>.allocate(capacity: decayEpochs)
    defer { ring.deallocate() }
    var stage = DecayStage(epochPages: ring)
    stage.epochPages[stage.newest] = 1000
    XCTAssertGreaterThan(stage.allowedPages(), 990)
    var previous = stage.allowedPages()
    for age in 1...decayEpochs {
      stage.newest = (stage.newest + 1) % decayEpochs
      stage.epochPages[stage.newest] = 0
      let now = stage.allowedPages()
      XCTAssertLessThanOrEqual(now, previous)
      if age == decayEpochs / 2 { XCTAssertEqual(Double(now), 500, accuracy: 20, "half-way: half") }
      if age == decayEpochs - 1 { XCTAssertLessThanOrEqual(now, 10) }
      previous = now
    }
    XCTAssertEqual(previous, 0, "out of the ring: nothing allowed")
  }

  /// Resident pages (mincore) of the chunks holding `runs`, less the pages
  /// of the runs themselves (all touched): what the kernel holds of the free
  /// pages.
  private func kernelResidentFreePages(chunks: Set<UInt>, live: [UnsafeMutablePointer<Extent>]) -> UInt {
    let pages = Int(chunkSize >> pageShift)
    var vector = [UInt8](repeating: 0, count: pages)
    var resident = 0
    for c in chunks {
      XCTAssertEqual(mincore(UnsafeMutableRawPointer(bitPattern: c)!, Int(chunkSize), &vector), 0)
      resident += vector.reduce(0) { $0 + Int($1 & 1) }
    }
    let livePages = live.reduce(0) { $0 + Int($1.pointee.pages) }
    return UInt(resident - livePages)
  }

  /// Free extents split and coalesce in every pattern; the dirty count must
  /// stay what the kernel holds, and decay must purge every freed page. (The
  /// old per-extent estimate lost dirty pages when a dirty extent merged
  /// with a clean one and split again: they stayed resident for good.)
  func testDirtyCountMatchesTheKernelThroughSplitsAndMerges() {
    let savedDecay = optDirtyDecayMs
    optDirtyDecayMs = -1
    defer { optDirtyDecayMs = savedDecay }
    let a = makePrivateArena()
    var rng = SystemRandomNumberGenerator()
    var live: [UnsafeMutablePointer<Extent>] = []
    var chunks = Set<UInt>()
    mutexLock(&a.pointee.extentLock)
    for step in 0..<3000 {
      if live.isEmpty || (live.count < 60 && Bool.random(using: &rng)) {
        let pages = UInt.random(in: 1...96, using: &rng)
        let align: UInt = [1, 1, 1, 4, 16][Int.random(in: 0..<5, using: &rng)]
        guard let e = arenaAllocPages(a, pages: pages, alignPages: align) else { XCTFail("no pages"); break }
        e.pointee.state = .large
        memset(UnsafeMutableRawPointer(bitPattern: e.pointee.address)!, 1, Int(pages << pageShift))
        live.append(e)
        chunks.insert(e.pointee.address & ~chunkMask)
      } else {
        arenaFreePages(a, live.remove(at: Int.random(in: 0..<live.count, using: &rng)))
      }
      if step % 500 == 499 {
        // Purge part of the free pages, as timed decay would.
        var n = 0
        while let e = a.pointee.dirty.lruHead, n < 3 { purgeExtent(a, e, lazily: false); n += 1 }
        XCTAssertEqual(a.pointee.dirty.pages, kernelResidentFreePages(chunks: chunks, live: live), "step \(step)")
      }
    }
    XCTAssertEqual(a.pointee.dirty.pages, kernelResidentFreePages(chunks: chunks, live: live))
    while let e = live.popLast() { arenaFreePages(a, e) }
    optDirtyDecayMs = 0
    decayTick(a)
    XCTAssertEqual(a.pointee.dirty.pages, 0)
    let left = kernelResidentFreePages(chunks: chunks.filter { pageMapLookup($0) != 0 }, live: [])
    XCTAssertEqual(left, 0, "every freed page went back to the kernel")
    mutexUnlock(&a.pointee.extentLock)
  }
}

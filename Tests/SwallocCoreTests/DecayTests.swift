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
}

import XCTest
@testable import SwallocCore
import CSwallocPlatform
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

final class AccountingTests: XCTestCase {
  override func setUp() { XCTAssertTrue(ensureBooted()) }

  /// The peak of the allocated bytes: a thread's changes reach the shared
  /// figure in batches of allocatedBatchBytes, all of them at its exit, and
  /// any after that at once.
  func testAllocatedBytesReachTheSharedFigureInBatchesAndAtThreadExit() {
    nonisolated(unsafe) var steps: [String: Bool] = [:]
    runJoinedThreads(1) { _ in
      let pending = swalloc_tls_allocated_pending().unsafelyUnwrapped
      steps["threaded"] = !swalloc_single_threaded()
      steps["a new thread has nothing pending"] = pending.pointee == 0
      let start = allocatedNow.load(ordering: .relaxed)
      statsAllocated(1000)
      steps["below a batch: kept"] = pending.pointee == 1000 && allocatedNow.load(ordering: .relaxed) == start
      statsAllocated(UInt(allocatedBatchBytes))
      steps["a batch: passed on"] = pending.pointee == 0
        && allocatedNow.load(ordering: .relaxed) == start + 1000 + Int(allocatedBatchBytes)
      steps["the peak followed"] = allocatedPeak.load(ordering: .relaxed) >= start + 1000 + Int(allocatedBatchBytes)
      statsDeallocated(500)
      steps["a free below a batch: kept"] = pending.pointee == -500
      statsThreadExit()
      steps["at exit: passed on"] = allocatedNow.load(ordering: .relaxed) == start + 500 + Int(allocatedBatchBytes)
      statsDeallocated(500 + UInt(allocatedBatchBytes))
      steps["after exit: at once"] = allocatedNow.load(ordering: .relaxed) == start
      statsThreadExit()
      steps["a second exit changes nothing"] = allocatedNow.load(ordering: .relaxed) == start
    }
    for (what, ok) in steps.sorted(by: { $0.key < $1.key }) { XCTAssertTrue(ok, what) }
    XCTAssertEqual(steps.count, 9)
  }

  /// stats.resident measures unless the last measurement was too recent
  /// for its cost: then the last figure plus what swalloc took since (here
  /// a huge block, counted whole); once that time has passed, measured again.
  func testResidentReadsAreMeasuredAtMostOnePercentOfTheTime() {
    let first = residentForStats()
    XCTAssertNotEqual(residentLast.endUs, 0, "the first read measures")
    XCTAssertEqual(residentLast.measured, first)
    // As if that measurement had taken 10 s: the next reads fall in its window.
    let saved = residentLast
    residentLast.costUs = 10_000_000
    let size = 64 << 20
    let p = swallocMalloc(UInt(size))!
    memset(p, 1, size)
    let inWindow = residentForStats()
    XCTAssertEqual(residentLast.endUs, saved.endUs, "not measured again")
    XCTAssertGreaterThanOrEqual(Int(inWindow), Int(first) + size - (1 << 20), "the block's pages counted")
    XCTAssertLessThanOrEqual(Int(inWindow), Int(first) + size + (4 << 20))
    // An explicit purge: the next read measures.
    residentLast.costUs = 10_000_000
    purgeArena(0)
    let afterPurge = residentForStats()
    XCTAssertNotEqual(residentLast.costUs, 10_000_000, "measured after a purge")
    XCTAssertEqual(Double(afterPurge), Double(residentMeasure()), accuracy: Double(1 << 20))
    // After the window: measured again, as the kernel reports it.
    residentLast.costUs = 10_000_000
    residentLast.endUs = 1
    let measured = residentForStats()
    XCTAssertNotEqual(residentLast.endUs, 1, "measured again")
    XCTAssertEqual(Double(measured), Double(residentMeasure()), accuracy: Double(1 << 20))
    swallocFree(p)
  }
}

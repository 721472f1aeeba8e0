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

  func testReadsNamesAndRejectsBadRequests() {
    XCTAssertEqual(read("arenas.narenas", UInt32.self).1, UInt32(arenaCount))
    XCTAssertEqual(read("arenas.bin.0.size", Int.self).1, 16)
    XCTAssertEqual(read("arenas.bin.8.size", Int.self).1, 160)
    XCTAssertEqual(read("arenas.bin.99.size", Int.self).0, ENOENT)
    XCTAssertEqual(read("opt.dirty_decay_ms", Int.self).1, optDirtyDecayMs)
    XCTAssertEqual(read("opt.tcache", Bool.self).1, optTcache)
    XCTAssertEqual(read("no.such.name", Int.self).0, ENOENT)
    XCTAssertEqual(read("stats.allocatedX", Int.self).0, ENOENT)
    // Wrong length: EINVAL, and the expected length is reported back.
    var small: UInt32 = 0
    var length = 4
    XCTAssertEqual("stats.allocated".withCString { swallocCtl($0, &small, &length, nil, 0) }, EINVAL)
    XCTAssertEqual(length, 8)
    // Read-only names refuse writes.
    var value = 1
    XCTAssertEqual("stats.allocated".withCString { swallocCtl($0, nil, nil, &value, 8) }, EPERM)
    // Actions take no values.
    XCTAssertEqual("thread.tcache.flush".withCString { swallocCtl($0, &value, &length, nil, 0) }, EINVAL)
  }

  func testStatsFollowAllocationsAndPurgeEmptiesDirtyPages() {
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

import XCTest
@testable import SwallocCore
#if canImport(Glibc)
import Glibc
#endif

final class AllocxTests: XCTestCase {
  let zeroFlag: Int32 = 0x40
  let noCache: Int32 = 1 << 8
  func lgAlign(_ la: Int32) -> Int32 { la }
  func arenaFlag(_ a: Int32) -> Int32 { (a + 1) << 20 }

  // MALLOCX_ARENA(1) below: a second arena, even with one CPU (one automatic arena).
  override func setUp() { XCTAssertTrue(ensureBooted()); ensureArenas(2) }

  func testMallocxHonoursAlignmentZeroAndArena() {
    for la: Int32 in [0, 4, 6, 12, 16, 22, 23] {
      for size: UInt in [1, 100, 5000, 100_000, 3 << 20] {
        let p = swallocMallocx(size, lgAlign(la) | zeroFlag)!
        XCTAssertEqual(UInt(bitPattern: p) % max(UInt(1) << UInt(la), 16), 0, "la \(la) size \(size)")
        let bytes = p.assumingMemoryBound(to: UInt8.self)
        for i in stride(from: 0, to: Int(size), by: 511) where bytes[i] != 0 { XCTFail("not zero"); break }
        XCTAssertEqual(swallocSallocx(p, 0), swallocNallocx(size, lgAlign(la)), "la \(la) size \(size)")
        swallocDallocx(p, 0)
      }
    }
    // An explicit arena: the block lives in that arena's chunk.
    let p = swallocMallocx(64, arenaFlag(1))!
    XCTAssertEqual(chunkArena(UInt(bitPattern: p)), arenas[1])
    swallocDallocx(p, noCache)
    XCTAssertNil(swallocMallocx(64, arenaFlag(Int32(arenaCount))), "no such arena")
  }

  /// Explicit caches (tcache.create / flush / destroy, MALLOCX_TCACHE):
  /// blocks freed into one come back out of it and of no other cache; a
  /// flush empties its stacks; destroy frees its index for the next create;
  /// an arena named with it rebinds it; resetting an arena empties every
  /// explicit cache first.
  func testExplicitCachesKeepTheirOwnBlocks() {
    func create() -> Int {
      var index: UInt32 = 0
      var length = 4
      XCTAssertEqual("tcache.create".withCString { swallocCtl($0, &index, &length, nil, 0) }, 0)
      return Int(index)
    }
    func act(_ name: String, _ index: Int) -> Int32 {
      var value = UInt32(index)
      return name.withCString { swallocCtl($0, nil, nil, &value, 4) }
    }
    func flag(_ index: Int) -> Int32 { Int32(index + 2) << 8 }
    // nallocx ignores the flag, as jemalloc's: no cache needs to exist.
    XCTAssertEqual(swallocNallocx(100, flag(4000)), swallocNallocx(100, 0))
    let one = create()
    let two = create()
    XCTAssertNotEqual(one, two)
    guard let t = explicitTcache(one), let u = explicitTcache(two) else { return XCTFail("no caches") }
    XCTAssertTrue(t.pointee.spread.pinned, "an explicit cache moved by contention")
    for size in [UInt(16), 100, 1000, 8000, 20000, 60000] {
      let p = swallocMallocx(size, flag(one))!
      swallocDallocx(p, flag(one))
      XCTAssertNotEqual(swallocMallocx(size, flag(two)).map { q in swallocDallocx(q, flag(two)); return q }, p,
                        "size \(size): another explicit cache handed out the block")
      XCTAssertEqual(swallocMallocx(size, flag(one)), p, "size \(size): the block did not come back")
      swallocDallocx(p, flag(one))
    }
    let c = classIndexFor(100)
    XCTAssertGreaterThan(tcacheBin(t, c).count, 0)
    XCTAssertEqual(act("tcache.flush", one), 0)
    for k in 0..<config.tcacheClassCount { XCTAssertEqual(tcacheBin(t, k).count, 0, "class \(k) kept blocks") }
    // An arena named with the cache: the cache serves it, bound to it.
    let p = swallocMallocx(200, flag(two) | arenaFlag(1))!
    XCTAssertEqual(u.pointee.arena, arenas[1])
    swallocDallocx(p, flag(two))
    XCTAssertGreaterThan(tcacheBin(u, classIndexFor(200)).count, 0)
    // An arena reset (or destroy) empties the explicit caches first: they
    // would hand out blocks of chunks it unmaps. (Reset, not destroy: the
    // other tests of this process bind threads to the arenas they find.)
    var made: UInt32 = 0
    var length = 4
    XCTAssertEqual("arenas.create".withCString { swallocCtl($0, &made, &length, nil, 0) }, 0)
    let q = swallocMallocx(300, flag(two) | arenaFlag(Int32(made)))!
    swallocDallocx(q, flag(two))
    XCTAssertGreaterThan(tcacheBin(u, classIndexFor(300)).count, 0)
    XCTAssertEqual("arena.\(made).reset".withCString { swallocCtl($0, nil, nil, nil, 0) }, 0)
    XCTAssertEqual(tcacheBin(u, classIndexFor(300)).count, 0, "the cache kept a block of the reset arena")
    // What arena.<i>.destroy adds: a cache bound to it is bound to arena 0.
    XCTAssertEqual(u.pointee.arena, arenas[Int(made)])
    explicitTcachesRelease(arenas[Int(made)]!, replacement: arenas[0])
    XCTAssertEqual(u.pointee.arena, arenas[0], "the cache is still bound to the destroyed arena")
    // Blocks of another arena freed into it: kept apart at the bottom of
    // their stack until half of it holds them, then flushed home. (That
    // flush took the stack's class from the thread's cache: api_fuzz
    // crashed in tcacheFlush.)
    let home = u.pointee.arena == arenas[0] ? 1 : 0
    let foreign = (0..<600).map { _ in swallocMallocx(64, noCache | arenaFlag(Int32(home)))! }
    for b in foreign { swallocDallocx(b, flag(two)) }
    XCTAssertLessThanOrEqual(tcacheBin(u, classIndexFor(64)).foreignCount(sizeClass: classIndexFor(64)),
                             Int(tcacheBin(u, classIndexFor(64)).pointee.capacity))
    XCTAssertEqual(act("tcache.flush", two), 0)
    // Destroyed: EFAULT from then on, and the index is the next create's.
    XCTAssertEqual(act("tcache.destroy", one), 0)
    XCTAssertEqual(act("tcache.flush", one), EFAULT)
    XCTAssertNil(explicitTcache(one))
    XCTAssertEqual(create(), one)
    XCTAssertEqual(act("tcache.destroy", one), 0)
    XCTAssertEqual(act("tcache.destroy", two), 0)
  }

  func testNallocxMatchesWhatMallocReturns() {
    var size: UInt = 1
    while size < 8 << 20 {
      let p = swallocMalloc(size)!
      XCTAssertEqual(swallocNallocx(size, 0), swallocMallocUsableSize(p), "size \(size)")
      swallocFree(p)
      size = size * 5 / 4 + 1
    }
    XCTAssertEqual(swallocNallocx(UInt.max, 0), 0)
  }

  /// nallocx's table answer for a small size without flags is the one its
  /// full path gives, for every size it takes; malloc_usable_size's answer
  /// from the page's entry is lookupAllocation's, for every region of a
  /// slab of every small class (the last one included); a sized free's
  /// shortcut takes only what the sized-free rule accepts.
  func testSmallSizeShortcutsMatchTheFullPaths() {
    let alignment = decodeMallocxFlags(0)!.alignment
    for size in UInt(1)...lookupMaxSize {
      XCTAssertEqual(swallocNallocx(size, 0), usableSizeFor(size, alignment: alignment), "size \(size)")
    }
    for c in 0..<config.smallClassCount {
      let info = config.binInfos[c]
      var blocks: [UnsafeMutableRawPointer] = []
      for _ in 0..<Int(info.regionCount) * 2 { blocks.append(swallocMalloc(UInt(info.regionSize))!) }
      for p in blocks {
        XCTAssertEqual(swallocMallocUsableSize(p), lookupAllocation(p, "test").usableSize, "class \(c)")
      }
      // Sizes of this class, of the classes around it, 0 and large ones.
      let size = UInt(info.regionSize)
      for s in [0, 1, size / 2, size &- 1, size, size &+ 1, size * 2, lookupMaxSize, lookupMaxSize &+ 1, 40_000] {
        let accepted = sizeNamesAllocation(s, alignment: quantum, lookupAllocation(blocks[0], "test"))
        if sizedFreeIsPlain(blocks[0], s) { XCTAssertTrue(accepted, "class \(c) size \(s)") }
        if s &- 1 < lookupMaxSize { XCTAssertEqual(sizedFreeIsPlain(blocks[0], s), accepted, "class \(c) size \(s)") }
      }
      for p in blocks { swallocFree(p) }
    }
  }

  func testRallocxAndXallocx() {
    let p = swallocMallocx(20_000, 0)!
    memset(p, 0x77, 20_000)
    // Grow in place when the following pages are free, zeroing the new part.
    let usable = swallocXallocx(p, 60_000, 0, zeroFlag)
    XCTAssertGreaterThanOrEqual(swallocSallocx(p, 0), 20_000)
    if usable >= 60_000 {
      let bytes = p.assumingMemoryBound(to: UInt8.self)
      XCTAssertEqual(bytes[19_999], 0x77)
      XCTAssertEqual(bytes[Int(usable) - 1], 0)
    }
    let q = swallocRallocx(p, 200_000, lgAlign(12))!
    XCTAssertEqual(UInt(bitPattern: q) % 4096, 0)
    XCTAssertEqual(q.assumingMemoryBound(to: UInt8.self)[100], 0x77)
    XCTAssertEqual(swallocRallocx(q, 200_001, 0), q, "same size class: in place")
    swallocSdallocx(q, 200_000, 0)
  }

  /// A large block of reallocPurgeMinBytes or more that a rallocx (or
  /// realloc: both free through freeMovedBlock) moves leaves its old pages
  /// purged: none resident (mincore), none counted dirty or muzzy (the page
  /// states that stats.resident and decay read), the contents copied.
  /// (Before, they stayed resident and dirty until decay: sqlite3's sorter
  /// array.) rallocx to another arena always moves.
  func testAMovedLargeBlockLeavesItsOldPagesPurged() {
    let size = reallocPurgeMinBytes
    let p = swallocMallocx(size, arenaFlag(0))!
    memset(p, 0x5c, Int(size))
    let address = UInt(bitPattern: p)
    let q = swallocRallocx(p, size &* 3 / 2, arenaFlag(1))!
    XCTAssertNotEqual(q, p)
    XCTAssertEqual(q.load(fromByteOffset: Int(size) - 1, as: UInt8.self), 0x5c)
    XCTAssertEqual(residentPageCount(p, bytes: Int(size)), 0, "old pages resident")
    let a = chunkArena(address)
    let counts = withLock(&a.pointee.extentLock) { pageStateCount(address, pages: size >> pageShift) }
    XCTAssertEqual(counts.dirty, 0)
    XCTAssertEqual(counts.muzzy, 0)
    swallocDallocx(q, 0)
  }

  /// Below reallocPurgeMinBytes a moved block is freed as any other large
  /// block: its pages stay resident for the next run that takes them
  /// (CPython's growing buffers took them again within milliseconds, and
  /// faulted them in afresh while they were purged).
  func testAMovedLargeBlockBelowThePurgeBoundKeepsItsPages() {
    let size: UInt = 256 << 10
    XCTAssertLessThan(size, reallocPurgeMinBytes)
    let p = swallocMallocx(size, arenaFlag(0))!
    memset(p, 0x5c, Int(size))
    let q = swallocRallocx(p, size &* 2, arenaFlag(1))!
    XCTAssertNotEqual(q, p)
    XCTAssertEqual(q.load(fromByteOffset: Int(size) - 1, as: UInt8.self), 0x5c)
    XCTAssertEqual(residentPageCount(p, bytes: Int(size)), Int(size >> pageShift), "old pages purged")
    swallocDallocx(q, 0)
  }

  /// Under junk:free the old block is junked as any freed block is (0x5a),
  /// not purged to zeros. (Its pages stay mapped in the arena: reading them
  /// here is safe.)
  func testAMovedLargeBlockIsJunkedUnderJunkFree() {
    let saved = config.opt.junkFree
    config.opt.junkFree = true
    defer { config.opt.junkFree = saved }
    let size: UInt = 256 << 10
    let p = swallocMallocx(size, arenaFlag(0))!
    memset(p, 0x11, Int(size))
    let q = swallocRallocx(p, 512 << 10, arenaFlag(1))!
    XCTAssertNotEqual(q, p)
    XCTAssertEqual(p.load(fromByteOffset: Int(size) / 2, as: UInt8.self), 0x5a)
    swallocDallocx(q, 0)
  }
}

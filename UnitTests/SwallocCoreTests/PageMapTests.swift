import XCTest
@testable import SwallocCore

final class PageMapTests: XCTestCase {
  override func setUp() { XCTAssertTrue(ensureBooted()) }

  func testSetAndLookupAtChunkGranularity() {
    // Addresses far from anything mapped: the map is keyed by address only.
    let chunkA: UInt = 0x5A5A_0000_0000 & ~chunkMask
    let chunkB = chunkA + chunkSize
    XCTAssertEqual(pageMapLookup(chunkA), 0)
    XCTAssertTrue(pageMapSet(chunkA, chunkA | 1))
    XCTAssertEqual(pageMapLookup(chunkA), chunkA | 1)
    XCTAssertTrue(isInArenaChunk(chunkA + 12345), "any address in the chunk")
    XCTAssertEqual(pageMapLookup(chunkA + chunkSize - 1), chunkA | 1)
    XCTAssertEqual(pageMapLookup(chunkB), 0)
    XCTAssertEqual(pageMapLookup(chunkA - 1), 0)
    // An address that aliases chunkA in the radix (bits above 48) is not ours.
    XCTAssertFalse(isInArenaChunk(chunkA | (1 << 52)))
    XCTAssertEqual(pageMapLookup(chunkA | (1 << 52)), 0)
    XCTAssertTrue(pageMapSet(chunkA, 0))
    XCTAssertEqual(pageMapLookup(chunkA), 0)
    XCTAssertFalse(isInArenaChunk(chunkA))
    // Huge entries are record addresses (even), returned as they are.
    XCTAssertTrue(pageMapSet(chunkB, 0x7000_0040))
    XCTAssertEqual(pageMapLookup(chunkB), 0x7000_0040)
    XCTAssertTrue(pageMapSet(chunkB, 0))
  }

  /// Runs `action(0)` on one thread after 20 ms and `action(1)` on another
  /// after 50 ms, each thread still running when the other acts: no lock
  /// and no join orders the two actions.
  private func onTwoUnorderedThreads(_ action: @escaping @convention(c) (UInt) -> Void) {
    struct Job { var action: @convention(c) (UInt) -> Void; var k: UInt }
    let jobs = UnsafeMutablePointer<Job>.allocate(capacity: 2)
    let threads = UnsafeMutablePointer<pthread_t>.allocate(capacity: 2)
    defer { jobs.deallocate(); threads.deallocate() }
    for k in 0..<2 {
      (jobs + k).initialize(to: Job(action: action, k: UInt(k)))
      let rc = pthread_create(threads + k, nil, { raw in
        let job = raw!.assumingMemoryBound(to: Job.self).pointee
        usleep(useconds_t(20_000 + job.k * 30_000))
        job.action(job.k)
        usleep(useconds_t(60_000 - job.k * 30_000))
        return nil
      }, UnsafeMutableRawPointer(jobs + k))
      XCTAssertEqual(rc, 0)
    }
    pthread_join(threads[0], nil)
    pthread_join(threads[1], nil)
  }

  /// Two threads write one slot with nothing ordering the writes, as when
  /// the kernel hands a huge block's freed range to another thread's mmap.
  /// Checked by the ThreadSanitizer run (tests/sanitize): a plain store in
  /// pageMapSet was reported as a data race here (and once in
  /// testConcurrentHandOffOfEveryKindOfBlock); atomic stores are not.
  func testUnorderedWritesOfOneSlotAreNotARace() {
    let chunk: UInt = 0x5B5B_0000_0000 & ~chunkMask
    XCTAssertTrue(pageMapSet(chunk, 0x7000_0040))   // the leaf exists before the threads start
    onTwoUnorderedThreads { k in _ = pageMapSet(0x5B5B_0000_0000 & ~chunkMask, 0x7000_0080 + k * 0x40) }
    XCTAssertEqual(pageMapLookup(chunk), 0x7000_00C0)
    XCTAssertTrue(pageMapSet(chunk, 0))
  }

  func testAReadThenAnUnorderedWriteOfOneSlotAreNotARace() {
    // A free path reads a huge block's slot, then another thread, after
    // the range went back to the kernel and came back to it, writes the
    // slot: nothing the program can see orders the two.
    let chunk: UInt = 0x5C5C_0000_0000 & ~chunkMask
    XCTAssertTrue(pageMapSet(chunk, 0x7000_0040))   // the leaf exists before the threads start
    onTwoUnorderedThreads { k in
      if k == 0 {
        _ = pageMapLookup(0x5C5C_0000_0000 & ~chunkMask)
      } else {
        _ = pageMapSet(0x5C5C_0000_0000 & ~chunkMask, 0x7000_0080)
      }
    }
    XCTAssertEqual(pageMapLookup(chunk), 0x7000_0080)
    XCTAssertTrue(pageMapSet(chunk, 0))
  }

  func testAddressesOutsideTheUserSpaceAreUnknown() {
    XCTAssertEqual(pageMapLookup(UInt(1) << 48), 0)
    XCTAssertEqual(pageMapLookup(UInt.max), 0)
    XCTAssertEqual(pageMapLookup(0), 0)
  }

  func testAllocatedPointersMapBackToTheirArenaChunk() {
    for size: UInt in [1, 100, 5000, 20000, 300_000] {
      let p = swallocMalloc(size)!
      let address = UInt(bitPattern: p)
      let entry = pageMapLookup(address)
      XCTAssertEqual(entry & pageMapArenaChunkTag, pageMapArenaChunkTag)
      // The entry leads to the chunk's out-of-band record, not into the chunk.
      let meta = arenaChunkMeta(address)!
      XCTAssertEqual(UInt(bitPattern: meta) | pageMapArenaChunkTag, entry)
      XCTAssertEqual(meta.pointee.chunk, address & ~chunkMask)
      XCTAssertTrue(UInt(bitPattern: meta) &- (address & ~chunkMask) >= chunkSize
                    || (address & ~chunkMask) &- UInt(bitPattern: meta) > config.chunkMetaSize, "metadata outside the chunk")
      XCTAssertNil(arenaChunkMeta(address | (1 << 50)), "aliases above 48 bits are not arena chunks")
      swallocFree(p)
    }
    let huge = swallocMalloc(5 << 20)!
    let entry = pageMapLookup(UInt(bitPattern: huge))
    XCTAssertEqual(entry & pageMapArenaChunkTag, 0)
    XCTAssertEqual(UnsafeMutablePointer<Extent>(bitPattern: entry)!.pointee.address, UInt(bitPattern: huge))
    swallocFree(huge)
    XCTAssertEqual(pageMapLookup(UInt(bitPattern: huge)), 0)
  }
}

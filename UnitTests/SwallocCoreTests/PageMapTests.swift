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

  /// The hot leaf (pageMapHot), which the free and realloc fast paths read
  /// in place of the root, is the first leaf made and stays so: a leaf made
  /// later under another root entry is found by the walk.
  func testTheHotLeafIsTheFirstLeafAndStays() {
    let p = swallocMalloc(100)!
    defer { swallocFree(p) }
    let hot = pageMapHotIndex()
    XCTAssertLessThan(hot, UInt(rootEntries), "a leaf exists once a block does")
    XCTAssertEqual(pageMapHotLeaf(), pageMapRoot[Int(hot)])
    XCTAssertNotEqual(pageMapHotLeaf(), pageMapEmptyLeaf)
    // A root entry other than the hot one and than the block's.
    var other = (hot &+ 1) % UInt(rootEntries)
    if other == UInt(bitPattern: p) >> rootShift { other = (other &+ 1) % UInt(rootEntries) }
    let far = other << rootShift | 0x12_3440_0000
    XCTAssertTrue(pageMapSet(far, 0x7000_0040))
    XCTAssertEqual(pageMapLookup(far), 0x7000_0040)
    XCTAssertEqual(pageMapHotIndex(), hot)
    XCTAssertEqual(pageMapHotLeaf(), pageMapRoot[Int(hot)])
    XCTAssertTrue(pageMapSet(far, 0))
    XCTAssertEqual(pageMapLookup(UInt(bitPattern: p)) & pageMapArenaChunkTag, pageMapArenaChunkTag)
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
  /// The chunk records' bin maps (what the free and realloc fast paths read)
  /// equal bits 48..63 of every page's page-map entry, after slabs are made
  /// and emptied, large runs are carved, resized in place and coalesced,
  /// and aligned runs split their free extents' heads.
  func testTheBinMapCopiesEveryPageMapEntry() {
    var rng = SystemRandomNumberGenerator()
    var live: [UnsafeMutableRawPointer] = []
    var chunks = Set<UInt>()
    for step in 0..<6000 {
      if !live.isEmpty && (live.count > 400 || Int.random(in: 0..<3, using: &rng) == 0) {
        let i = Int.random(in: 0..<live.count, using: &rng)
        live.swapAt(i, live.count - 1)
        let p = live.removeLast()
        if Int.random(in: 0..<4, using: &rng) == 0 {
          // Grow or shrink a large run in place (or move it).
          let q = swallocRealloc(p, UInt.random(in: 16_385...200_000, using: &rng))!
          chunks.insert(UInt(bitPattern: q) & ~chunkMask)
          swallocFree(q)
        } else {
          swallocFree(p)
        }
        continue
      }
      let size: UInt = [UInt.random(in: 1...512, using: &rng), UInt.random(in: 513...14_000, using: &rng),
                        UInt.random(in: 16_385...300_000, using: &rng)][step % 3]
      let p: UnsafeMutableRawPointer
      if step % 7 == 0 {
        p = swallocAlignedAlloc(pageSize << UInt.random(in: 1...3, using: &rng), size)!
      } else {
        p = swallocMalloc(size)!
      }
      chunks.insert(UInt(bitPattern: p) & ~chunkMask)
      live.append(p)
    }
    // Pages with a class (live blocks) and without: checked with the blocks
    // live, then after they are freed and the arena purged.
    func compare() -> (classed: Int, free: Int) {
      var classed = 0, free = 0
      for chunk in chunks {
        guard let meta = arenaChunkMeta(chunk) else { continue }   // unmapped since
        let a = meta.pointee.arena
        withLock(&a.pointee.extentLock) {
          for i in 0..<chunkPages {
            let entry = meta.pageMap[i]
            XCTAssertEqual(binMapValue(meta.pageMap, i), UInt16(truncatingIfNeeded: entry >> pageEntryBinOffsetShift),
                           "page \(i) of chunk \(chunk)")
            if entry >> pageEntryClassShift != 0 { classed += 1 } else if entry != 0 { free += 1 }
          }
        }
      }
      return (classed, free)
    }
    let before = compare()
    XCTAssertGreaterThan(before.classed, 0, "no live block's page to compare")
    for p in live { swallocFree(p) }
    XCTAssertEqual("arena.\(ctlArenasAll).purge".withCString { swallocCtl($0, nil, nil, nil, 0) }, 0)
    let after = compare()
    XCTAssertGreaterThan(before.free + after.free, 0, "no free extent's page to compare")
  }
}

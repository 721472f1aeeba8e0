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

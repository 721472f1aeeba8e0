import XCTest
@testable import SwallocCore

final class PageMapTests: XCTestCase {
  override func setUp() { XCTAssertTrue(ensureBooted()) }

  func testSetAndLookupAtChunkGranularity() {
    // Addresses far from anything mapped: the map is keyed by address only.
    let chunkA: UInt = 0x5A5A_0000_0000 & ~chunkMask
    let chunkB = chunkA + chunkSize
    XCTAssertEqual(pageMapLookup(chunkA), 0)
    XCTAssertTrue(pageMapSet(chunkA, 0x1234_5671))
    XCTAssertEqual(pageMapLookup(chunkA), 0x1234_5671)
    XCTAssertEqual(pageMapLookup(chunkA + 12345), 0x1234_5671, "any address in the chunk")
    XCTAssertEqual(pageMapLookup(chunkA + chunkSize - 1), 0x1234_5671)
    XCTAssertEqual(pageMapLookup(chunkB), 0)
    XCTAssertEqual(pageMapLookup(chunkA - 1), 0)
    XCTAssertTrue(pageMapSet(chunkA, 0))
    XCTAssertEqual(pageMapLookup(chunkA), 0)
  }

  func testAddressesOutsideTheUserSpaceAreUnknown() {
    XCTAssertEqual(pageMapLookup(UInt(1) << 47), 0)
    XCTAssertEqual(pageMapLookup(UInt.max), 0)
    XCTAssertEqual(pageMapLookup(0), 0)
  }

  func testAllocatedPointersMapBackToTheirArenaChunk() {
    for size: UInt in [1, 100, 5000, 20000, 300_000] {
      let p = swallocMalloc(size)!
      let address = UInt(bitPattern: p)
      XCTAssertEqual(pageMapLookup(address), (address & ~chunkMask) | pageMapArenaChunkTag)
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

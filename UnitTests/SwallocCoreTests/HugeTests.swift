import XCTest
@testable import SwallocCore
#if canImport(Glibc)
import Glibc
#endif

/// The huge-mapping cache: reuse of a bigger mapping splits its surplus off
/// as a cached mapping of its own, a smaller one is grown by remapping, and
/// either way calloc's memory reads zero.
final class HugeTests: XCTestCase {
  override func setUp() {
    XCTAssertTrue(ensureBooted())
    XCTAssertGreaterThan(config.opt.dirtyDecayMs, 0, "the cache is off with dirty_decay_ms:0")
    _ = hugeCacheDrop(olderThanMs: -1)
  }

  override func tearDown() { _ = hugeCacheDrop(olderThanMs: -1) }

  func testABigCachedMappingIsSplitAndItsTailReused() {
    let big = swallocMalloc(32 << 20)!
    memset(big, 0x5c, 32 << 20)
    swallocFree(big)
    XCTAssertEqual(hugeCacheEntries, 1)
    // 3 MiB from the 32 MiB mapping: the first chunk serves it, the other
    // 28 MiB stay cached as their own mapping.
    let small = swallocMalloc(3 << 20)!
    XCTAssertEqual(small, big)
    XCTAssertEqual(hugeCacheEntries, 1)
    XCTAssertEqual(hugeCacheBytes, 28 << 20)
    // The tail serves the next request without a new mapping.
    let next = swallocCalloc(1, 20 << 20)!
    XCTAssertEqual(UInt(bitPattern: next), UInt(bitPattern: big) + (4 << 20))
    XCTAssertEqual(hugeCacheEntries, 0)
    let bytes = next.assumingMemoryBound(to: UInt8.self)
    XCTAssertTrue(stride(from: 0, to: 20 << 20, by: 4093).allSatisfy { bytes[$0] == 0 }, "calloc from the cache reads zero")
    swallocFree(small)
    swallocFree(next)
  }

  func testASmallerCachedMappingIsGrownByRemapping() {
    let first = swallocMalloc(3 << 20)!
    memset(first, 0x7e, 3 << 20)
    swallocFree(first)
    XCTAssertEqual(hugeCacheEntries, 1)
    // 10 MiB: no cached mapping holds it, so the 3 MiB one moves onto a
    // 10 MiB range, its old pages first; calloc clears those, the rest is fresh.
    let grown = swallocCalloc(1, 10 << 20)!
    XCTAssertEqual(hugeCacheEntries, 0, "the cached mapping was used")
    XCTAssertEqual(UInt(bitPattern: grown) & chunkMask, 0, "chunk-aligned")
    XCTAssertEqual(swallocMallocUsableSize(grown), 10 << 20)
    let bytes = grown.assumingMemoryBound(to: UInt8.self)
    XCTAssertTrue(stride(from: 0, to: 10 << 20, by: 4093).allSatisfy { bytes[$0] == 0 })
    memset(grown, 1, 10 << 20)
    swallocFree(grown)
  }
}

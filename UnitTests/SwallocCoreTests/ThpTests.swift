import Foundation
import XCTest
@testable import SwallocCore
#if canImport(Glibc)
import Glibc
#endif

/// Transparent huge pages (the thp option, Platform.swift): which advice
/// each setting gives on each system mode, and that a new chunk's mapping
/// carries it before its first page is touched.
final class ThpTests: XCTestCase {
  override func setUp() { XCTAssertTrue(ensureBooted()) }

  func testAdviceFollowsTheOptionAndTheSystemMode() {
    // thp:never (the default) calls only where the system would use huge
    // pages for a plain mapping, or where its mode is unknown.
    XCTAssertTrue(thpAdvice(.never, system: .always) == (MADV_NOHUGEPAGE, 0))
    XCTAssertTrue(thpAdvice(.never, system: nil) == (MADV_NOHUGEPAGE, 0))
    XCTAssertTrue(thpAdvice(.never, system: .madvise) == (0, 0))
    XCTAssertTrue(thpAdvice(.never, system: .never) == (0, 0))
    XCTAssertTrue(thpAdvice(.always, system: .madvise) == (MADV_HUGEPAGE, MADV_HUGEPAGE))
    XCTAssertTrue(thpAdvice(.always, system: .always) == (MADV_HUGEPAGE, MADV_HUGEPAGE))
    XCTAssertTrue(thpAdvice(.always, system: .never) == (0, 0))
    XCTAssertTrue(thpAdvice(.systemDefault, system: .always) == (0, 0))
    XCTAssertEqual(config.opt.thp, .never, "the default")
  }

  /// On a system whose THP mode is "always" the kernel would back a
  /// chunk's 2 MiB-aligned halves with huge pages at their first touch:
  /// pages the allocator counts as fresh would be resident (DecayTests'
  /// kernel comparison failed so, 3 runs of 3 with the mode set to always).
  /// The boot's advice for that system is MADV_NOHUGEPAGE, and the chunk
  /// carries it ("nh" in its VmFlags), whatever the mode of this machine.
  func testANewChunkIsMarkedBeforeItsFirstTouch() {
    let saved = config.thpAdviceChunks
    config.thpAdviceChunks = thpAdvice(.never, system: .always).chunks
    defer { config.thpAdviceChunks = saved }
    let a = makePrivateArena()
    let run = arenaAllocLarge(a, sizeClass: classIndexFor(64 << 10), bytes: bootedClassSize(classIndexFor(64 << 10)), alignment: pageSize, zero: false)!
    defer { arenaFreeLarge(a, address: UInt(bitPattern: run), fromThreadCache: false) }
    let flags = vmFlags(of: run)
    XCTAssertNotNil(flags)
    XCTAssertTrue(flags?.contains("nh") ?? false, "VmFlags: \(flags?.joined(separator: " ") ?? "none")")
    XCTAssertFalse(flags?.contains("hg") ?? true)
  }

  /// The VmFlags of the /proc/self/smaps entry that holds `p`, split.
  private func vmFlags(of p: UnsafeMutableRawPointer) -> [Substring]? {
    // Read to the end: /proc files report a size of 0.
    guard let file = FileHandle(forReadingAtPath: "/proc/self/smaps"),
          let smaps = String(data: file.readDataToEndOfFile(), encoding: .utf8) else { return nil }
    let address = UInt(bitPattern: p)
    var inside = false
    for line in smaps.split(separator: "\n") {
      let fields = line.split(separator: " ", omittingEmptySubsequences: true)
      if let range = fields.first, range.contains("-"), !range.hasSuffix(":") {
        let ends = range.split(separator: "-").compactMap { UInt($0, radix: 16) }
        inside = ends.count == 2 && address >= ends[0] && address < ends[1]
      } else if inside && fields.first == "VmFlags:" {
        return Array(fields.dropFirst())
      }
    }
    return nil
  }
}

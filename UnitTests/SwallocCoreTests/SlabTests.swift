import XCTest
@testable import SwallocCore

/// Slabs (Slab.swift): how a refill takes free regions out of a slab.
final class SlabTests: XCTestCase {
  override func setUp() { XCTAssertTrue(ensureBooted()) }

  /// slabTakeRegions hands out the lowest free regions first, whatever the
  /// pattern of free ones (runs within a word, runs across words, lone
  /// regions, bit 63, a `want` that ends inside a run), clears exactly
  /// their bits and counts them: a slab of 256 regions (class 0) with
  /// random free patterns, against a plain bit-by-bit walk.
  func testRegionsComeLowestFirstWhateverThePatternOfFreeOnes() {
    let a = makePrivateArena()
    let sizeClass = 0
    let info = config.binInfos[sizeClass]
    XCTAssertGreaterThan(info.regionCount, 128, "a class whose slab spans several bitmap words")
    let slab = arenaAllocSlab(a, sizeClass: sizeClass)!
    defer {
      slab.bitmap.setAll()
      slab.pointee.freeRegions = UInt16(info.regionCount)
      arenaFreeSlab(a, slab)
    }
    let regions = UInt(info.regionCount)
    let bitmap = slab.bitmap
    var out = [UnsafeMutableRawPointer?](repeating: nil, count: Int(regions))
    var rng = SystemRandomNumberGenerator()
    // Patterns: random bits of several densities, long runs, alternating
    // bits, and runs that end at bit 63 or cross into the next word.
    var patterns: [[Bool]] = []
    for density in [2, 5, 50, 95, 98] {
      for _ in 0..<20 { patterns.append((0..<regions).map { _ in Int.random(in: 0..<100, using: &rng) < density }) }
    }
    patterns.append((0..<regions).map { $0 % 2 == 0 })
    patterns.append((0..<regions).map { $0 == 63 || ($0 >= 100 && $0 < 200) })
    patterns.append((0..<regions).map { $0 >= 60 && $0 < 70 })
    patterns.append((0..<regions).map { $0 != 0 })   // all but one: not the all-free case
    for free in patterns {
      let expected = (0..<regions).filter { free[Int($0)] }
      for want in [1, 2, 3, 7, 33, 64, 65, Int(regions)] {
        bitmap.setAll()
        for r in 0..<regions where !free[Int(r)] { bitmap.clear(r) }
        slab.pointee.freeRegions = UInt16(expected.count)
        let got = slabTakeRegions(slab, regionSize: UInt(info.regionSize), into: &out, want: want)
        let taken = Array(expected.prefix(want))
        XCTAssertEqual(got, taken.count)
        for (i, r) in taken.enumerated() {
          XCTAssertEqual(UInt(bitPattern: out[i]), slab.pointee.address + r * UInt(info.regionSize),
                         "region \(i) of want \(want)")
        }
        for r in 0..<regions {
          XCTAssertEqual(bitmap.isSet(r), free[Int(r)] && !taken.contains(r), "bit \(r) after want \(want)")
        }
        XCTAssertEqual(UInt(slab.pointee.freeRegions), UInt(expected.count - taken.count))
      }
    }
  }
}

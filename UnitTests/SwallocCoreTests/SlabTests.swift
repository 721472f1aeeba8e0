import XCTest
@testable import SwallocCore

/// Slabs (Slab.swift): how a refill takes free regions out of a slab.
final class SlabTests: XCTestCase {
  override func setUp() { XCTAssertTrue(ensureBooted()) }

  /// A slab of class `sizeClass` from arena `a` (a test's own), for the
  /// test to set its bitmap as it likes.
  private func scratchSlab(_ a: UnsafeMutablePointer<Arena>, sizeClass: Int) -> UnsafeMutablePointer<Extent> {
    arenaAllocSlab(a, sizeClass: sizeClass)!
  }

  /// Gives a scratch slab back, every region free again (as the arena takes
  /// a slab back).
  private func returnScratchSlab(_ slab: UnsafeMutablePointer<Extent>) {
    let info = config.binInfos[Int(slab.pointee.sizeClass)]
    slab.bitmap.setAll()
    slab.pointee.freeRegions = UInt16(info.regionCount)
    arenaFreeSlab(chunkArena(slab.pointee.address), slab)
  }

  /// slabTakeRegions hands out the lowest free regions first, whatever the
  /// pattern of free ones (runs within a word, runs across words, lone
  /// regions, bit 63, a `want` that ends inside a run), clears exactly
  /// their bits and counts them: a slab of 256 regions (class 0) with
  /// random free patterns, against a plain bit-by-bit walk.
  func testRegionsComeLowestFirstWhateverThePatternOfFreeOnes() {
    let sizeClass = 0
    let info = config.binInfos[sizeClass]
    XCTAssertGreaterThan(info.regionCount, 128, "a class whose slab spans several bitmap words")
    let slab = scratchSlab(makePrivateArena(), sizeClass: sizeClass)
    defer { returnScratchSlab(slab) }
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
        let got = slabTakeRegions(slab, regionSize: UInt(info.regionSize), into: &out, want: want, lineGroup: 1)
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

  /// With a line group (threads), a slab partly in use hands out its whole
  /// free cache lines first, lowest first, as many groups as `want` has
  /// room for, then the lowest of the rest: the same patterns, against a
  /// walk over the groups and then the regions. Class 0 (16 B) and the 32
  /// and 48-byte classes (groups of 4, 2 and 4 regions).
  func testWholeFreeLinesComeFirstWithThreads() {
    let a = makePrivateArena()
    for size in [16, 32, 48] {
      let sizeClass = classIndexFor(UInt(size))
      let info = config.binInfos[sizeClass]
      XCTAssertEqual(Int(info.regionSize), size)
      let group = Int(slabLineRegions(sizeClass: sizeClass))
      XCTAssertEqual(group, size == 32 ? 2 : 4)
      let slab = scratchSlab(a, sizeClass: sizeClass)
      defer { returnScratchSlab(slab) }
      let regions = Int(info.regionCount)
      let bitmap = slab.bitmap
      var out = [UnsafeMutableRawPointer?](repeating: nil, count: regions)
      var rng = SystemRandomNumberGenerator()
      var patterns: [[Bool]] = []
      for density in [30, 60, 90, 97] {
        for _ in 0..<20 { patterns.append((0..<regions).map { _ in Int.random(in: 0..<100, using: &rng) < density }) }
      }
      patterns.append((0..<regions).map { $0 % 4 != 1 })   // no whole group of 2 or 4
      patterns.append((0..<regions).map { $0 != 0 && $0 != 5 })
      for free in patterns {
        for want in [1, 2, 3, 4, 6, 8, 33, 64, regions] {
          bitmap.setAll()
          for r in 0..<regions where !free[r] { bitmap.clear(UInt(r)) }
          let freeCount = free.filter { $0 }.count
          slab.pointee.freeRegions = UInt16(freeCount)
          // The model: whole groups (every region of the group free, none
          // past the slab's end), lowest first, while a group fits.
          var taken: [Int] = []
          if want >= group {
            var g = 0
            while g + group <= regions && want - taken.count >= group {
              if (g..<(g + group)).allSatisfy({ free[$0] }) { taken += Array(g..<(g + group)) }
              g += group
            }
          }
          var isTaken = [Bool](repeating: false, count: regions)
          for r in taken { isTaken[r] = true }
          for r in 0..<regions where free[r] && !isTaken[r] && taken.count < want { taken.append(r); isTaken[r] = true }
          let got = slabTakeRegions(slab, regionSize: UInt(info.regionSize), into: &out, want: want, lineGroup: group)
          XCTAssertEqual(got, taken.count, "\(size) B, want \(want)")
          for (i, r) in taken.enumerated() where i < got {
            XCTAssertEqual(UInt(bitPattern: out[i]), slab.pointee.address + UInt(r) * UInt(info.regionSize),
                           "\(size) B: region \(i) of want \(want)")
          }
          for r in 0..<regions {
            XCTAssertEqual(bitmap.isSet(UInt(r)), free[r] && !isTaken[r], "\(size) B: bit \(r) after want \(want)")
          }
          XCTAssertEqual(Int(slab.pointee.freeRegions), freeCount - taken.count)
        }
      }
    }
  }
}

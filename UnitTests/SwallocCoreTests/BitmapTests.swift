import XCTest
@testable import SwallocCore

final class BitmapTests: XCTestCase {
  func testSetAllFindAndClear() {
    for bits: UInt in [1, 63, 64, 65, 200, 256] {
      let words = UnsafeMutablePointer<UInt64>.allocate(capacity: 8)
      defer { words.deallocate() }
      words.initialize(repeating: 0xDEAD, count: 8)
      let map = Bitmap(words: words, bitCount: bits)
      map.setAll()
      XCTAssertEqual(map.countSet(), bits)
      for b in 0..<bits { XCTAssertTrue(map.isSet(b)) }
      // Bits past the end stay clear in the last word.
      if bits % 64 != 0 { XCTAssertEqual(words[Int(bits / 64)] >> (bits % 64), 0) }
      for b in 0..<bits - 1 { map.clear(b) }
      XCTAssertTrue(map.isSet(bits - 1))
      XCTAssertEqual(map.countSet(), 1)
      map.clear(bits - 1)
      XCTAssertEqual(map.countSet(), 0)
      map.set(bits / 2)
      XCTAssertTrue(map.isSet(bits / 2))
      XCTAssertEqual(map.countSet(), 1)
    }
  }

  /// setWasClear sets one bit, reports whether it was clear, and leaves
  /// the others as they were (the flush's double-free check for a lone
  /// region).
  func testSetWasClear() {
    let words = UnsafeMutablePointer<UInt64>.allocate(capacity: 4)
    defer { words.deallocate() }
    let map = Bitmap(words: words, bitCount: 256)
    for bit: UInt in [0, 1, 62, 63, 64, 127, 128, 255] {
      words.initialize(repeating: 0, count: 4)
      XCTAssertTrue(map.setWasClear(bit), "bit \(bit) on a clear map")
      for b: UInt in 0..<256 { XCTAssertEqual(map.isSet(b), b == bit, "bit \(b) after setting \(bit)") }
      XCTAssertFalse(map.setWasClear(bit), "bit \(bit) set twice")
      words.initialize(repeating: UInt64.max, count: 4)
      map.clear(bit)
      XCTAssertTrue(map.setWasClear(bit))
      XCTAssertEqual(map.countSet(), 256)
    }
  }

  /// setRangeWasClear sets exactly [first, first + count), across word
  /// boundaries, and reports whether any of those bits was set before
  /// (the flush's double-free check for a run of adjacent regions).
  func testSetRangeWasClear() {
    let words = UnsafeMutablePointer<UInt64>.allocate(capacity: 4)
    defer { words.deallocate() }
    let map = Bitmap(words: words, bitCount: 256)
    for (first, count) in [(0, 1), (0, 64), (5, 3), (60, 10), (63, 1), (64, 64), (1, 190), (130, 126)] as [(UInt, UInt)] {
      words.initialize(repeating: 0, count: 4)
      XCTAssertTrue(map.setRangeWasClear(first, count: count), "[\(first), +\(count)) on a clear map")
      for b: UInt in 0..<256 { XCTAssertEqual(map.isSet(b), b >= first && b < first + count, "bit \(b) of [\(first), +\(count))") }
      // Any bit of the range already set is reported, and the others are set.
      for already in [first, first + count / 2, first + count - 1] {
        words.initialize(repeating: 0, count: 4)
        map.set(already)
        XCTAssertFalse(map.setRangeWasClear(first, count: count), "bit \(already) of [\(first), +\(count)) was set")
        XCTAssertEqual(map.countSet(), count)
      }
      // Bits just outside the range do not count.
      words.initialize(repeating: 0, count: 4)
      if first > 0 { map.set(first - 1) }
      if first + count < 256 { map.set(first + count) }
      XCTAssertTrue(map.setRangeWasClear(first, count: count))
    }
  }
}

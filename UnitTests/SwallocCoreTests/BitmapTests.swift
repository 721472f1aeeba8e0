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
}

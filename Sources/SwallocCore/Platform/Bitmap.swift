// Fixed-size bitmaps over raw words: a set bit is a free region.

struct Bitmap {
  let words: UnsafeMutablePointer<UInt64>
  let bitCount: UInt

  static func wordCount(bits: UInt) -> UInt { (bits &+ 63) >> 6 }

  /// Marks the first `bitCount` bits set (free) and the rest of the last word clear.
  func setAll() {
    let n = Bitmap.wordCount(bits: bitCount)
    var i: UInt = 0
    while i < n {
      let remaining = bitCount &- i &* 64
      words[Int(i)] = remaining >= 64 ? UInt64.max : (UInt64(1) << UInt64(remaining)) &- 1
      i &+= 1
    }
  }

  @inline(__always) func isSet(_ bit: UInt) -> Bool {
    words[Int(bit >> 6)] & (UInt64(1) << UInt64(bit & 63)) != 0
  }
  @inline(__always) func set(_ bit: UInt) {
    words[Int(bit >> 6)] |= UInt64(1) << UInt64(bit & 63)
  }
  @inline(__always) func clear(_ bit: UInt) {
    words[Int(bit >> 6)] &= ~(UInt64(1) << UInt64(bit & 63))
  }

  func countSet() -> UInt {
    let n = Bitmap.wordCount(bits: bitCount)
    var total: UInt = 0
    var i: UInt = 0
    while i < n { total &+= UInt(words[Int(i)].nonzeroBitCount); i &+= 1 }
    return total
  }
}

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

  /// Sets bit `bit`; returns whether it was clear before (setRangeWasClear
  /// for one bit, without its mask arithmetic).
  @inline(__always) func setWasClear(_ bit: UInt) -> Bool {
    let w = Int(bitPattern: bit >> 6)
    let mask = UInt64(1) &<< UInt64(bit & 63)
    let word = words[w]
    words[w] = word | mask
    return word & mask == 0
  }

  /// Sets bits [first, first + count) (count >= 1, within the map);
  /// returns whether none of them was set before.
  @inline(__always) func setRangeWasClear(_ first: UInt, count: UInt) -> Bool {
    var w = Int(first >> 6)
    var bit = first & 63
    var left = count
    var seen: UInt64 = 0
    repeat {
      let take = min(64 &- bit, left)
      let ones = take == 64 ? UInt64.max : (UInt64(1) << UInt64(take)) &- 1
      let mask = ones << UInt64(bit)
      let word = words[w]
      seen |= word & mask
      words[w] = word | mask
      left &-= take
      bit = 0
      w &+= 1
    } while left != 0
    return seen == 0
  }

  func countSet() -> UInt {
    let n = Bitmap.wordCount(bits: bitCount)
    var total: UInt = 0
    var i: UInt = 0
    while i < n { total &+= UInt(words[Int(i)].nonzeroBitCount); i &+= 1 }
    return total
  }
}

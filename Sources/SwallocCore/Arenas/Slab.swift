// Slabs: extents cut into equal regions of one small size class, with a
// bitmap of free regions in the Extent record. All slab operations run with
// the owning bin's lock held.

/// Hands out up to `want` free regions of `slab` into `out`; returns how many.
@inline(__always)
func slabTakeRegions(_ slab: UnsafeMutablePointer<Extent>, regionSize: UInt,
                     into out: UnsafeMutablePointer<UnsafeMutableRawPointer?>, want: Int) -> Int {
  let bitmap = slab.bitmap
  invariant(slab.pointee.state == .slab, "regions taken from an extent that is not a slab")
  let wordCount = Int(Bitmap.wordCount(bits: bitmap.bitCount))
  let start = slab.pointee.address
  if UInt(slab.pointee.freeRegions) == bitmap.bitCount {
    // Every region free (a fresh or spare slab, the usual case when a
    // burst of blocks is allocated): the lowest `want` regions, as the scan
    // below would take them, without a bit search per region.
    let n = min(want, Int(bitmap.bitCount))
    var address = start
    var k = 0
    while k < n { out[k] = UnsafeMutableRawPointer(bitPattern: address); address &+= regionSize; k &+= 1 }
    let fullWords = n >> 6
    var w = 0
    while w < fullWords { bitmap.words[w] = 0; w &+= 1 }
    if n & 63 != 0 { bitmap.words[fullWords] &= ~((UInt64(1) << UInt64(n & 63)) &- 1) }
    slab.pointee.freeRegions &-= UInt16(truncatingIfNeeded: n)
    return n
  }
  // The lowest free regions, a run of adjacent ones at a time: the run's
  // first bit by a bit search, its length by a second one (the trailing
  // ones from there), then its addresses one region apart and its bits
  // cleared with one mask. A slab a refill left partly taken has its free
  // regions in one run (refills take them lowest first): bench burst takes
  // half its regions so, each refill finishing the slab the previous one
  // began (callgrind, `wl burst 1 0.1`: the bit-at-a-time loop ran 522K
  // times, 10 instructions each). A lone free region (the rule in slabs
  // that random frees left) costs one test more than it did.
  var taken = 0
  var w = 0
  while w < wordCount && taken < want {
    var word = bitmap.words[w]
    while word != 0 && taken < want {
      let low = word.trailingZeroBitCount
      let first = start &+ UInt(w &* 64 &+ low) &* regionSize
      if word & (2 &<< UInt64(low)) == 0 {
        // A lone free region (its upper neighbour taken, or bit 63).
        out[taken] = UnsafeMutableRawPointer(bitPattern: first)
        taken &+= 1
        word &= word &- 1
        continue
      }
      // word >> low ends in ones; the run is their count (at most 64 -
      // low: the shift brought zeros in at the top).
      let run = (~(word &>> UInt64(low))).trailingZeroBitCount
      let n = min(run, want &- taken)
      var address = first
      var k = 0
      while k < n {
        out[taken &+ k] = UnsafeMutableRawPointer(bitPattern: address)
        address &+= regionSize
        k &+= 1
      }
      taken &+= n
      let ones = n == 64 ? UInt64.max : (UInt64(1) &<< UInt64(n)) &- 1
      word &= ~(ones &<< UInt64(low))
    }
    bitmap.words[w] = word
    w &+= 1
  }
  slab.pointee.freeRegions &-= UInt16(truncatingIfNeeded: taken)
  return taken
}

/// The index of the region that starts at `address`, on a page of a slab
/// of the class of `info` whose page-map entry is `entry`, or nil when no
/// region starts there: from the entry alone (its page's index in the
/// slab, Chunk.swift), with no read of the slab's record, which its bin's
/// lock guards.
@inline(__always)
func slabEntryRegionIndex(_ entry: UInt, info: BinInfo, address: UInt) -> UInt? {
  regionIndex(atOffset: ((entry & 63) << pageShift) | (address & pageMask), info: info)
}

/// The index of the region that starts at `address` in `slab`, or nil when
/// no region starts there.
@inline(__always)
func slabRegionIndex(_ slab: UnsafeMutablePointer<Extent>, info: BinInfo, address: UInt) -> UInt? {
  regionIndex(atOffset: address &- slab.pointee.address, info: info)
}

/// The index of the region `offset` bytes into a slab of the class of
/// `info`, or nil when no region starts there (a multiple of the region
/// size below the last region's end; division by multiply-shift).
@inline(__always)
func regionIndex(atOffset offset: UInt, info: BinInfo) -> UInt? {
  let index = UInt((UInt64(offset) &* UInt64(info.divisionMagic)) >> 32)
  if index &* UInt(info.regionSize) != offset || index >= UInt(info.regionCount) { return nil }
  return index
}

// Slabs: extents cut into equal regions of one small size class, with a
// bitmap of free regions in the Extent record. All slab operations run with
// the owning bin's lock held.

/// Hands out up to `want` free regions of `slab` into `out`; returns how
/// many. With `lineGroup` above 1 (slabLineRegions, in a process with
/// threads), a slab partly in use hands out its whole free lines first.
@inline(__always)
func slabTakeRegions(_ slab: UnsafeMutablePointer<Extent>, regionSize: UInt,
                     into out: UnsafeMutablePointer<UnsafeMutableRawPointer?>, want: Int, lineGroup: Int) -> Int {
  let bitmap = slab.bitmap
  invariant(slab.pointee.state == .slab, "regions taken from an extent that is not a slab")
  let wordCount = Int(Bitmap.wordCount(bits: bitmap.bitCount))
  let start = slab.pointee.address
  if UInt(slab.pointee.freeRegions) == bitmap.bitCount {
    // Every region free (a fresh or spare slab, the usual case when a
    // burst of blocks is allocated): the lowest `want` regions, as the scan
    // below would take them, without a bit search per region.
    let n = min(want, Int(bitmap.bitCount))
    slabWriteRegions(out, first: start, count: n, regionSize: regionSize)
    let fullWords = n >> 6
    var w = 0
    while w < fullWords { bitmap.words[w] = 0; w &+= 1 }
    if n & 63 != 0 { bitmap.words[fullWords] &= ~lowBits(n & 63) }
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
  var taken = lineGroup > 1 && want >= lineGroup
    ? slabTakeWholeLines(slab, regionSize: regionSize, into: out, want: want, group: lineGroup) : 0
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
      slabWriteRegions(out + taken, first: first, count: n, regionSize: regionSize)
      taken &+= n
      word &= ~(lowBits(n) &<< UInt64(low))
    }
    bitmap.words[w] = word
    w &+= 1
  }
  slab.pointee.freeRegions &-= UInt16(truncatingIfNeeded: taken)
  return taken
}

/// Writes the addresses of `count` regions, `regionSize` apart from
/// `first` on, to `out` (a run of adjacent free regions being taken).
@inline(__always)
private func slabWriteRegions(_ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>, first: UInt, count: Int,
                              regionSize: UInt) {
  var address = first
  var k = 0
  while k < count { out[k] = UnsafeMutableRawPointer(bitPattern: address); address &+= regionSize; k &+= 1 }
}

/// A word's `n` lowest bits set, 1 <= n <= 64 (a run's bits, at bit 0).
@inline(__always)
private func lowBits(_ n: Int) -> UInt64 {
  n == 64 ? UInt64.max : (UInt64(1) &<< UInt64(n)) &- 1
}

/// The fewest regions of small class `sizeClass` that fill whole cache
/// lines when laid end to end from a line boundary (a power of two: 4 for
/// 16, 48, 80 or 112 bytes, 2 for 32 or 96, 1 for multiples of 64).
///
/// Why: threads that share an arena refill from the same slab, and a fresh
/// slab hands out its regions in address order (slabTakeRegions). With
/// refills of any count, one thread's last region and the next thread's
/// first shared a line, and the two threads' writes to their own blocks
/// moved that line between their cores (false sharing): 8 threads that
/// each took one block of each size from 8 to 128 bytes got 8 pairs of
/// blocks on a common line (tests/concurrency line_share; jemalloc,
/// mimalloc and glibc none, with an arena or pages per thread; tcmalloc
/// 54). Every refill is a multiple of this count (tcacheFill), so each
/// starts and ends on a line boundary (slabs start on a page), and a slab
/// partly in use hands out its whole free lines before the regions that
/// share a line with blocks in use (slabTakeWholeLines).
@inline(__always)
func slabLineRegions(sizeClass: Int) -> UInt32 {
  let size = UInt32(truncatingIfNeeded: config.binInfos[sizeClass].regionSize)
  let lowestBit = size & (0 &- size)
  return lowestBit >= UInt32(cacheLineBytes) ? 1 : UInt32(cacheLineBytes) / lowestBit
}

/// slabTakeRegions' first pass in a slab partly in use, with threads: the
/// lowest groups of `group` free regions that make up whole cache lines
/// (slabLineRegions), while `want` leaves room for a group; returns how
/// many regions it took (a multiple of `group`).
///
/// Why: the lowest free regions of such a slab are often lone ones whose
/// line holds blocks in use, and those may be another thread's. A block
/// made by one thread and freed by another (Hoard's cache-scratch: the
/// main thread makes one small block per worker, side by side, and each
/// worker frees its own) went back to the slab (freeFull) only to come
/// out in the next refill, the first of a stack: the block the refilling
/// thread then used, next to the one its neighbour used, and both threads'
/// writes moved the line between their cores. Lone regions are still
/// handed out, after the whole lines (slabTakeRegions' scan), so the slab
/// fills as before; a process with one thread keeps the address order.
@inline(never)
private func slabTakeWholeLines(_ slab: UnsafeMutablePointer<Extent>, regionSize: UInt,
                                into out: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                                want: Int, group: Int) -> Int {
  let bitmap = slab.bitmap
  let wordCount = Int(Bitmap.wordCount(bits: bitmap.bitCount))
  let start = slab.pointee.address
  // A set bit at every group's first index (groups never straddle a word:
  // `group` divides 64), and the group's bits.
  let groupBits = lowBits(group)
  let firsts = UInt64.max / groupBits
  var taken = 0
  var w = 0
  while w < wordCount && want &- taken >= group {
    var word = bitmap.words[w]
    // Bit i set when bits i ..< i + group all are; kept at the groups'
    // first bits, then spread over each whole group's bits (the product
    // carries nothing: the groups' bits do not overlap).
    var runs = word
    var shift = 1
    while shift < group { runs &= runs &>> UInt64(shift); shift &<<= 1 }
    var lines = (runs & firsts) &* groupBits
    if lines != 0 {
      // Adjacent whole lines a run at a time, as slabTakeRegions' scan.
      while lines != 0 && want &- taken >= group {
        let low = lines.trailingZeroBitCount
        let run = (~(lines &>> UInt64(low))).trailingZeroBitCount
        let n = min(run, (want &- taken) & ~(group &- 1))
        slabWriteRegions(out + taken, first: start &+ UInt(w &* 64 &+ low) &* regionSize, count: n,
                         regionSize: regionSize)
        taken &+= n
        let taken64 = lowBits(n) &<< UInt64(low)
        lines &= ~taken64
        word &= ~taken64
      }
      bitmap.words[w] = word
    }
    w &+= 1
  }
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

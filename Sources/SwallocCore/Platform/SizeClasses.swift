// Size classes, jemalloc style: a 16-byte quantum up to 128 bytes, then four
// classes per doubling (128, 160, 192, 224, 256, 320, ...). The worst-case
// internal waste is therefore below 25%.
//
//   small: classes below 4 pages (14 KiB with 4 KiB pages), served from slabs
//   large: classes up to 2 MiB, served as page runs inside arena chunks
//   huge:  anything larger, mapped directly and rounded up to whole pages

let quantum: UInt = 16
/// Sizes up to this value are classified with one table lookup.
let lookupMaxSize: UInt = 4096
/// The largest size served from arena chunks.
let largeMaxClass: UInt = 2 << 20
/// Number of size classes up to and including `largeMaxClass`.
let classCount = 64

/// The class index of a non-zero size up to `largeMaxClass`, by arithmetic.
@inline(__always)
func sizeClassIndex(_ size: UInt) -> Int {
  if size <= 128 {
    return Int((size &+ 15) >> 4) &- 1 + (size == 0 ? 1 : 0)
  }
  let x = size &- 1
  let lg = UInt(63 &- x.leadingZeroBitCount)  // floor(log2(x)), >= 7
  let within = (x >> (lg &- 2)) & 3
  return 8 &+ Int((lg &- 7) &* 4 &+ within)
}

/// The size of class `index`.
@inline(__always)
func sizeClassSize(_ index: Int) -> UInt {
  if index < 8 { return UInt(index &+ 1) &* 16 }
  let group = UInt(index &- 8) >> 2
  let step = UInt(index &- 8) & 3
  let lg = group &+ 7
  return (1 << lg) &+ (step &+ 1) &* (1 << (lg &- 2))
}

/// Per-small-class slab geometry, computed at boot from the page size.
struct BinInfo {
  var regionSize: UInt32
  var regionCount: UInt32
  var slabPages: UInt32
  /// ceil(2^32 / regionSize): turns a byte offset into a region index with a
  /// multiply and a shift instead of a division.
  var divisionMagic: UInt32
}

/// Tables built at boot in base memory (never Swift arrays, which allocate).
var sizeLookupTable: UnsafeMutablePointer<UInt8> = UnsafeMutablePointer(bitPattern: 8)!
var binInfos: UnsafeMutablePointer<BinInfo> = UnsafeMutablePointer(bitPattern: 16)!
/// Classes below 4 pages are small (slab-backed).
var smallClassCount = 0
/// The largest region a slab may hold, in bitmap bits.
var maxRegionsPerSlab: UInt = 0
let maxSlabPages: UInt = 16

/// The class index for `size` (1...largeMaxClass). Uses the boot-time table
/// when the size is small enough.
@inline(__always)
func classIndexFor(_ size: UInt) -> Int {
  if size <= lookupMaxSize {
    return Int(sizeLookupTable[Int((size &+ 15) >> 4)])
  }
  return sizeClassIndex(size)
}

/// The usable size the allocator returns for a request of `size` bytes with
/// default alignment (0 when the request is larger than any mappable size).
func usableSizeFor(_ size: UInt) -> UInt {
  if size <= largeMaxClass { return sizeClassSize(classIndexFor(size)) }
  if size > UInt(Int.max) { return 0 }
  return roundUpToPage(size)
}

/// Regions a slab should hold at least, so that page-sized classes do not
/// cost one page-run allocation per block (bench: 1000 x 4 KiB rounds).
let minRegionsPerSlab: UInt = 4

/// Chooses the number of pages for a slab of `regionSize` regions: the fewest
/// pages that hold `minRegionsPerSlab` regions with a leftover tail of at
/// most 1/64 of the slab, else the least wasteful such count up to
/// `maxSlabPages`.
func slabPagesFor(regionSize: UInt) -> UInt {
  var best: UInt = 1
  var bestWastePerMille: UInt = UInt.max
  var pages: UInt = 1
  while pages <= maxSlabPages {
    let bytes = pages &* pageSize
    if bytes >= regionSize &* minRegionsPerSlab {
      let waste = bytes % regionSize
      if waste &* 64 <= bytes { return pages }
      let perMille = waste &* 1000 / bytes
      if perMille < bestWastePerMille { bestWastePerMille = perMille; best = pages }
    }
    pages &+= 1
  }
  if bestWastePerMille == UInt.max {
    // No count holds minRegionsPerSlab regions: as many pages as allowed.
    return maxSlabPages
  }
  return best
}

/// Builds the lookup table and the per-bin geometry. `memory` must hold
/// `sizeClassTablesBytes()` bytes.
func sizeClassesBoot(memory: UnsafeMutableRawPointer) {
  smallClassCount = 0
  while smallClassCount < classCount && sizeClassSize(smallClassCount) < 4 &* pageSize {
    smallClassCount &+= 1
  }
  let lookupEntries = Int(lookupMaxSize >> 4) &+ 1
  sizeLookupTable = memory.bindMemory(to: UInt8.self, capacity: lookupEntries)
  var i = 0
  while i < lookupEntries {
    sizeLookupTable[i] = UInt8(sizeClassIndex(UInt(i) << 4))
    i &+= 1
  }
  binInfos = (memory + 512).bindMemory(to: BinInfo.self, capacity: classCount)
  maxRegionsPerSlab = 0
  var c = 0
  while c < smallClassCount {
    let size = sizeClassSize(c)
    let pages = slabPagesFor(regionSize: size)
    let regions = pages &* pageSize / size
    binInfos[c] = BinInfo(
      regionSize: UInt32(size), regionCount: UInt32(regions), slabPages: UInt32(pages),
      divisionMagic: UInt32(((1 << 32) &+ size &- 1) / size))
    if regions > maxRegionsPerSlab { maxRegionsPerSlab = regions }
    c &+= 1
  }
}

func sizeClassTablesBytes() -> UInt { 512 &+ UInt(MemoryLayout<BinInfo>.stride &* classCount) }

// Size classes, jemalloc style: a 16-byte quantum up to 128 bytes, then four
// classes per doubling (128, 160, 192, 224, 256, 320, ...), except between 4
// and 16 KiB, where there are eight (4608, 5120, 5632, ..., 15360, 16384),
// and one more, 4368 (pageCacheClass), between 4096 and 4608. The
// worst-case internal waste is therefore below 25% (12.5% in 4..16 KiB).
//
// Why eight there: those are the small classes with the biggest regions,
// cut from slabs, so every byte a class rounds up costs resident memory
// (the large runs above 80 KiB take only their requests' pages).
// sqlite3's page cache allocates 4104- and 4368-byte blocks: 5120-byte
// regions wasted 15-20% of its heap (bench sqlite3: peak RSS 1.20 x glibc);
// 4608 wastes 5-11%; 4368 nothing of the pages and 6% of the buffers. Each
// of the eight fills its slab exactly, 4368 all but 16 bytes of 16 pages
// (SizeClassTests; slabPagesByWaste).
//
//   small: classes below 4 pages (15 KiB with 4 KiB pages), served from slabs
//   large: classes up to 2 MiB, served as page runs inside arena chunks; the
//          runs of the classes above the thread-cached ones and the next
//          (80 KiB by default) are their requests in whole pages
//          (largeRunBytes)
//   huge:  anything larger, mapped directly and rounded up to whole pages

import CSwallocPlatform

let quantum: UInt = 16
/// Sizes up to this value are classified with one table lookup: every small
/// class (checked at boot), so the malloc and calloc fast paths serve all of
/// them. (Up to 4 KiB before: a malloc of 4-15 KiB, PostgreSQL's memory
/// contexts' 8 KiB blocks, sqlite3's 4.3 KiB pages, took the slow path's
/// class arithmetic.) Never a large class, whose pop must mark its run live
/// again (largeLeftThreadCache).
let lookupMaxSize: UInt = 15360
/// The largest size served from arena chunks.
let largeMaxClass: UInt = 2 << 20
/// Number of size classes up to and including `largeMaxClass`.
let classCount = 73
/// Classes 29...44 (4608 ... 16384) are the eight-per-doubling ones.
let fineFirstClass = 29
/// Class 28, 4368 bytes, between 4096 and 4608: the most 16-byte-aligned
/// bytes 15 regions can have in a slab of maxSlabPages pages (15 x 4368 =
/// 65520 of 65536). Why: sqlite's page cache allocates its 4 KiB pages
/// with their headers, 4368 bytes each (and 4104-byte buffers beside
/// them), and at sqlite3's peak (bench sqlite3) 4017 of them sat in
/// 4608-byte regions, 941 KiB of resident waste. Its regions are 16-byte
/// aligned only, the one class above 128 B that is not a multiple of 32:
/// aligned requests skip it (alignedRequestSize).
let pageCacheClass = 28
let pageCacheClassSize: UInt = 4368

/// A fixed table in static storage (`config`, the size tables): an InlineArray
/// indexed without a bounds check in release, where callers pass an index
/// they computed in range (a size class they hold, a size they compared
/// with lookupMaxSize); the debug builds check it. A read is one load, as
/// when these tables were pointers into base memory or C arrays (the
/// fast-path instruction counts did not move; with the checked subscript
/// they did not either, LLVM proving the fast paths' indices in range, but
/// that proof is the optimizer's to keep).
struct StaticTable<let count: Int, Element> {
  var entries: InlineArray<count, Element>

  init(repeating value: Element) { entries = InlineArray(repeating: value) }

  subscript(_ i: Int) -> Element {
    @inline(__always) get {
      invariant(i >= 0 && i < count, "a static table index out of range")
      return entries[unchecked: i]
    }
    @inline(__always) set {
      invariant(i >= 0 && i < count, "a static table index out of range")
      entries[unchecked: i] = newValue
    }
  }
}

/// One entry per size class (classCount: sizeClassesBoot checks that the
/// two agree).
typealias ClassTable<Element> = StaticTable<73, Element>

/// The class index of a non-zero size up to `largeMaxClass`, by arithmetic.
@inline(__always)
func sizeClassIndex(_ size: UInt) -> Int {
  if size <= 128 {
    return Int((size &+ 15) >> 4) &- 1 + (size == 0 ? 1 : 0)
  }
  let x = size &- 1
  let lg = UInt(63 &- x.leadingZeroBitCount)  // floor(log2(x)), >= 7
  // Above 16 KiB (tested first: the large classes' cache hits come here).
  if lg >= 14 { return 17 &+ Int((lg &- 7) &* 4 &+ ((x >> (lg &- 2)) & 3)) }
  if lg >= 12 && x < pageCacheClassSize { return pageCacheClass }
  if lg >= 12 { return fineFirstClass &+ Int((lg &- 12) &* 8 &+ ((x >> (lg &- 3)) & 7)) }
  return 8 &+ Int((lg &- 7) &* 4 &+ ((x >> (lg &- 2)) & 3))
}

/// The size by which a request of `request` bytes (at least 1) at
/// `alignment` (a power of two up to a page) is classified: the request
/// rounded up to the alignment, whose class is then a multiple of the
/// alignment, so its regions, at multiples of their size in page-aligned
/// slabs, are aligned. Every class is a multiple of each alignment whose
/// multiples it serves, except pageCacheClass (4368 = 16 x 273), which
/// serves 4128 ... 4352: at alignments above the quantum those go to the
/// next class (4608 = 512 x 9).
@inline(__always)
func alignedRequestSize(_ request: UInt, alignment: UInt) -> UInt {
  let rounded = (request &+ alignment &- 1) & ~(alignment &- 1)
  // 4097 ... 4368, as one unsigned compare; the alignment is looked at
  // only then (both tests in one condition cost posix_memalign(64, 64) +
  // free 10 more instructions than none, this form 3: 90 -> 93).
  if _slowPath(rounded &- 4097 < pageCacheClassSize &- 4096) {
    return alignment > quantum ? pageCacheClassSize &+ 1 : rounded
  }
  return rounded
}

/// The size of class `index`.
@inline(__always)
func sizeClassSize(_ index: Int) -> UInt {
  if index < 8 { return UInt(index &+ 1) &* 16 }
  if index == pageCacheClass { return pageCacheClassSize }
  if index >= fineFirstClass && index < fineFirstClass &+ 16 {
    let j = UInt(index &- fineFirstClass)
    let lg = (j >> 3) &+ 12
    return (1 << lg) &+ ((j & 7) &+ 1) &* (1 << (lg &- 3))
  }
  let j = UInt(index < fineFirstClass ? index &- 8 : index &- 17)
  let lg = (j >> 2) &+ 7
  return (1 << lg) &+ ((j & 3) &+ 1) &* (1 << (lg &- 2))
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

/// The size -> class tables: static, and all 0 until sizeClassesBoot fills
/// them (under bootLock; read-only after, like `config`). Before boot every
/// size maps to code 0 / class 0, stacks the empty tcache holds, empty,
/// which sends the fast paths to their slow paths with no boot test.
/// sizeBinOffsets[(size + 15) >> 4], size <= lookupMaxSize, is the class
/// *code* of the size (class index + 1, as in the page map) times the size
/// of a TcacheBin (code << tcacheBinShift): the byte offset of its stack
/// among a tcache's bins, which the malloc fast path adds without a shift
/// (one instruction per malloc; sizeCode(_:) has the code). sizeUpper: the class of sizes above
/// lookupMaxSize (classIndexFor). Never Swift arrays, which allocate.
///
/// Globals of their own rather than fields of `config`: calloc's cache hit
/// reads this table and then binInfos, and with both in one struct the
/// compiler kept the struct's address in a callee-saved register across the
/// pop, whose save and restore cost 3 instructions per calloc+free pair (97
/// -> 100, scripts/fastpath-instructions.sh); apart, the counts are those of
/// the C arrays they replace.
nonisolated(unsafe) var sizeBinOffsets = StaticTable<961, UInt16>(repeating: 0)
nonisolated(unsafe) var sizeUpper = StaticTable<512, UInt8>(repeating: 0)
/// codeSizes[code]: the size of class code `code` (class index + 1, as in
/// the page map), 0 for code 0 and the unused entries (the count is a power
/// of two, so a code can be masked into range). Static, filled at boot;
/// read only after a boot check (realloc's in-place test).
let codeSizeEntries = 128
nonisolated(unsafe) var codeSizes = StaticTable<128, UInt32>(repeating: 0)

/// sizeClassSize(sizeClass) from codeSizes: one load instead of its
/// arithmetic (~25 instructions with its branches), for the slow paths
/// that count a class's bytes at every refill and flush (thread.allocated,
/// stats). Only after boot, for a class below the table's size.
@inline(__always)
func bootedClassSize(_ sizeClass: Int) -> UInt {
  invariant(sizeClass >= 0 && sizeClass &+ 1 < codeSizeEntries && codeSizes[sizeClass &+ 1] != 0,
            "a class size read before boot or out of the table")
  return UInt(codeSizes[sizeClass &+ 1])
}

/// The bytes a large run of class `sizeClass` has for a request of
/// `request` bytes (classified into it): the request in whole pages for
/// the classes from config.pageRunFirstClass on, the class's size below.
/// Why: a run of a class above 64 KiB rounded its request up by up to a
/// quarter (a 260 KiB request took 320 KiB), and the pages past the
/// request, though the program never writes them, are written by whatever
/// the freed run holds next, so the heap's resident high-water counted
/// every class's rounding. Those classes are not thread-cached (a cached
/// run must hold any request of its class), and neither is the class
/// below each of them, which such a run is filed under (largeRunClass).
@inline(__always)
func largeRunBytes(request: UInt, sizeClass: Int) -> UInt {
  sizeClass >= config.pageRunFirstClass ? roundUpToPage(request) : bootedClassSize(sizeClass)
}

/// The class a large run of `bytes` bytes (whole pages, at least the
/// smallest large class) is filed under in the page map: the largest
/// class it holds whole. For a run of its class's size, that class; for a
/// run sized to its request (largeRunBytes), the class below the
/// request's. The fast paths then read a block's class as they always
/// have: realloc keeps a block in place for the sizes of its class
/// (size <= the class's size), which the run holds, and sends the rest
/// of the run's bytes to the slow path, which reads the run's pages.
@inline(__always)
func largeRunClass(bytes: UInt) -> Int {
  let c = classIndexFor(bytes)
  return bootedClassSize(c) == bytes ? c : c &- 1
}

// The per-class slab geometry (binInfos), the small-class count and the
// most regions per slab are boot-once values in `config` (Config.swift),
// written by sizeClassesBoot.
let maxSlabPages: UInt = 16

/// log2 of a TcacheBin's stride (checked at boot: tcacheLayoutFits): the
/// factor in sizeBinOffsets and in the page map's bin-offset field.
let tcacheBinShift = 6

/// The byte offset of the stack of `size`'s class among a tcache's bins;
/// size <= lookupMaxSize.
@inline(__always)
func sizeBinOffset(_ size: UInt) -> Int {
  Int(sizeBinOffsets[Int((size &+ 15) >> 4)])
}

/// The class code of `size` (class index + 1); size <= lookupMaxSize.
@inline(__always)
func sizeCode(_ size: UInt) -> Int {
  sizeBinOffset(size) >> tcacheBinShift
}

/// The class index for `size` (1...largeMaxClass). Uses the boot-time table
/// when the size is small enough.
@inline(__always)
func classIndexFor(_ size: UInt) -> Int {
  if size <= lookupMaxSize {
    return sizeCode(size) &- 1
  }
  // Above the first table, a second one with an entry per 4 KiB: every
  // class above lookupMaxSize is a multiple of 4 KiB, so the sizes of one
  // entry, (size - 1) >> 12, share a class. One shift and one load (a
  // table keyed by the top bit's position and the three bits below it, 73
  // bytes, took a bit search and six more instructions: malloc(20000) +
  // free 126 -> 119, scripts/fastpath-instructions.sh 20000).
  return Int(sizeUpper[Int((size &- 1) >> upperTableShift)])
}

/// sizeUpper's spacing: the class sizes above lookupMaxSize are multiples
/// of 1 << upperTableShift (SizeClassTests checks it).
let upperTableShift = 12
/// Entries of sizeUpper: sizes up to largeMaxClass (those up to
/// lookupMaxSize never reach it; their entries stay 0).
let upperTableEntries = Int(largeMaxClass >> UInt(upperTableShift))


/// Regions a slab should hold at least, so that page-sized classes do not
/// cost one page-run allocation per block (bench: 1000 x 4 KiB rounds).
let minRegionsPerSlab: UInt = 4

/// Regions a slab holds at least while they fit in `manyRegionsSlabBytes`
/// (else as many as fit there; the waste rule below may then round the
/// slab up past it: 1536 B, 10 regions wanted, gets 24 KiB with none).
/// Making a slab and returning it cost about 850 instructions (page-run
/// split and coalescing, page map, decay lists);
/// with jemalloc's geometry alone (the fewest pages without waste) the
/// classes from 448 B to 3 KiB held 4 to 9 regions per slab, so a burst of
/// 1 KiB blocks paid about 200 instructions per block for slabs. Bench
/// burst: 526M -> 453M instructions (callgrind, `wl burst 1 0.2`), user
/// time 0.34 -> 0.30 s, peak RSS 6.97 -> 7.30 MiB (medians of 7
/// interleaved runs); the other workloads' peak RSS within -3%..+2% (5
/// runs each at scale 0.5). Bigger slabs for the bigger classes were not
/// tried: their slabs would pass 16 KiB.
let manyRegionsPerSlab: UInt = 16
let manyRegionsSlabBytes: UInt = 16 << 10

/// And at least this many while they fit in `smallSlabBytes`: the classes
/// of 192, 224 and 256 B got one page (16 to 21 regions) from the rule
/// above, two with this (32 to 42). Their slabs cycled most: bench
/// xmalloc's producers (16-256 B) refill from slabs its consumers empty,
/// one slab cycle per 16-21 blocks. Callgrind (`wl W T S`): xmalloc 2 0.3
/// 195.3M -> 184.5M instructions, burst 1 0.2 412.3M -> 406.9M;
/// churn-random, churn-lifo, mixed-threads, server-churn and larson within
/// 0.1%. Peak RSS within noise (medians of 11-21 interleaved runs: xmalloc
/// 2868 / 2864 KiB; the others within +-60 KiB, server-churn +-700 KiB
/// either way between batches). The same 32 regions up to 32 KiB slabs
/// (classes to 1 KiB) cut burst to 384.1M but cost peak RSS (bench/run.py
/// --baseline with the rule above alone, 7 repetitions: geomean 1.02 ->
/// 1.03 x glibc, burst 6.5 -> 6.8 MiB, churn-lifo 1.6 -> 1.8 MiB).
let smallSlabRegions: UInt = 32
let smallSlabBytes: UInt = 8 << 10

/// Chooses the number of pages for a slab of `regionSize` regions: one
/// slab size for the classes above 256 B up to 1 KiB (sharedSlabPages);
/// else the fewest pages that hold `minRegionsPerSlab` regions
/// (`manyRegionsPerSlab` when they fit in `manyRegionsSlabBytes`, else as
/// many as fit there; `smallSlabRegions` when they fit in
/// `smallSlabBytes`) with a leftover tail of at most 1/64 of the slab
/// (none for regions above a page), else the least wasteful such count up
/// to `maxSlabPages`.
func slabPagesFor(regionSize: UInt) -> UInt {
  if regionSize > smallSlabBytes / smallSlabRegions && regionSize <= manyRegionsSlabBytes / manyRegionsPerSlab {
    return sharedSlabPages
  }
  return slabPagesByWaste(regionSize: regionSize)
}

/// The slab size of every class from 320 B to 1 KiB: 16 KiB
/// (manyRegionsSlabBytes), 51 to 16 regions, a tail of at most 384 B
/// (640 B: 2.3%). The rule below gave them 2, 3 or 4 pages (384-512 B: 2;
/// 320, 640, 768 B: 3). A program that allocates many blocks of one
/// class, frees them and moves on to another class hands the emptied
/// slabs' pages from class to class, and a pooled empty slab (SlabPool)
/// serves only a new slab of its own page count: with one size for these
/// classes, and 1 or 2 pages below them, a slab of one class is most often
/// what the next class needs, and freed runs split evenly. Bench burst
/// (bursts of one class from 16 B to 1 KiB each, allocated then freed):
/// - 3-page slabs to 4 first: 372.9M -> 364.6M instructions (callgrind,
///   `wl burst 1 0.2`), 0.231 -> 0.217 s (medians of 11 interleaved
///   runs), peak RSS within noise; xmalloc, churn-random, mixed-threads
///   within 0.1% of their instructions;
/// - then 384-512 B as well: 0.213 -> 0.202 s (medians of 9), in the
///   whole bench (bench/run.py, 5 repetitions) 0.211 -> 0.201 s, the time
///   and peak RSS geomeans within 1%.
/// The classes up to 256 B keep slabs of at most 8 KiB (smallSlabBytes:
/// bigger ones cost churn-lifo's peak RSS). Powers of two for the bigger
/// classes as well (5-7 pages to 8, 9-15 to 16) cost mixed-threads,
/// server-churn, mixed-lifetime and leak-grow 1-3% of peak RSS.
let sharedSlabPages: UInt = manyRegionsSlabBytes >> pageShift

/// slabPagesFor's rule for the classes outside sharedSlabPages' range.
private func slabPagesByWaste(regionSize: UInt) -> UInt {
  let wanted = max(minRegionsPerSlab, min(manyRegionsPerSlab, manyRegionsSlabBytes / regionSize),
                   min(smallSlabRegions, smallSlabBytes / regionSize))
  var best: UInt = 1
  var bestWastePerMille: UInt = UInt.max
  var pages: UInt = 1
  if regionSize > pageSize {
    // Regions bigger than a page: the fewest pages they fill exactly, when
    // that is within maxSlabPages (every class from 4 to 16 KiB has one but
    // 4368 B), else the count that leaves the least tail, if that is at most
    // 1/1024 of the largest slab (4368 B: 16 pages, 15 regions, 16 bytes;
    // the 1/64 rule below would give it 13 pages and an 832-byte tail).
    // The 1/64 rule gave 4608 B 8 pages (7 regions and a 512-byte tail)
    // rather than 9 (8 regions): sqlite3's page cache (bench sqlite3,
    // 4368-byte blocks, then in 4608-byte regions) held 584 such slabs at
    // its peak, 292 KiB of tails.
    var leastTail = UInt.max
    var leastTailPages: UInt = 0
    while pages <= maxSlabPages {
      let bytes = pages &* pageSize
      if bytes >= regionSize &* wanted {
        if bytes % regionSize == 0 { return pages }
        if bytes % regionSize < leastTail { leastTail = bytes % regionSize; leastTailPages = pages }
      }
      pages &+= 1
    }
    if leastTail &* 1024 <= maxSlabPages &* pageSize { return leastTailPages }
    pages = 1
  }
  while pages <= maxSlabPages {
    let bytes = pages &* pageSize
    if bytes >= regionSize &* wanted {
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

/// Builds the lookup tables and the per-bin geometry (config.binInfos).
func sizeClassesBoot() {
  if config.binInfos.entries.count != classCount { fatal("the size class tables have the wrong length") }
  config.smallClassCount = 0
  while config.smallClassCount < classCount && sizeClassSize(config.smallClassCount) < 4 &* pageSize {
    config.smallClassCount &+= 1
  }
  let lookupEntries = Int(lookupMaxSize >> 4) &+ 1
  if lookupEntries > sizeBinOffsets.entries.count { fatal("the size code table is too small") }
  if sizeClassSize(config.smallClassCount &- 1) != lookupMaxSize {
    fatal("the size code table does not end at the largest small class")
  }
  // Entry i serves the sizes up to i * 16: the first class that holds
  // them, found by walking the classes alongside (classifying each of the
  // 961 sizes cost every process ~20K instructions at boot, as much as the
  // rest of swalloc's boot and first malloc).
  var i = 0
  var tableClass = 0
  var classSize = sizeClassSize(0)
  while i < lookupEntries {
    while classSize < UInt(i) << 4 {
      tableClass &+= 1
      classSize = sizeClassSize(tableClass)
    }
    sizeBinOffsets[i] = UInt16((tableClass &+ 1) << tcacheBinShift)
    i &+= 1
  }
  // Entry i holds the class of the sizes (i << 12) + 1 ... (i + 1) << 12
  // (the class of the largest, which is theirs: no class boundary falls
  // inside an entry above lookupMaxSize).
  if upperTableEntries > sizeUpper.entries.count { fatal("the upper size table is too small") }
  i = Int(lookupMaxSize >> UInt(upperTableShift))
  while i < upperTableEntries {
    sizeUpper[i] = UInt8(sizeClassIndex(UInt(i &+ 1) << UInt(upperTableShift)))
    i &+= 1
  }
  if classCount >= codeSizeEntries { fatal("the class size table is too small") }
  i = 0
  while i < classCount {
    codeSizes[i &+ 1] = UInt32(sizeClassSize(i))
    i &+= 1
  }
  config.maxRegionsPerSlab = 0
  var c = 0
  while c < config.smallClassCount {
    let size = sizeClassSize(c)
    let pages = slabPagesFor(regionSize: size)
    let regions = pages &* pageSize / size
    config.binInfos[c] = BinInfo(
      regionSize: UInt32(size), regionCount: UInt32(regions), slabPages: UInt32(pages),
      divisionMagic: UInt32(((1 << 32) &+ size &- 1) / size))
    if regions > config.maxRegionsPerSlab { config.maxRegionsPerSlab = regions }
    c &+= 1
  }
}

/// Makes the large classes above the first one no thread cache keeps
/// (tcacheBoot ran; `uncachedFirst`) size their runs to their requests
/// (largeRunBytes): such a run is filed under the class below its
/// request's (largeRunClass), which must be large and uncached too.
func pageRunsBoot(uncachedFirst: Int) {
  config.pageRunFirstClass = max(uncachedFirst, config.smallClassCount) &+ 1
}

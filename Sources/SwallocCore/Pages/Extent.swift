// Extents: runs of whole pages inside an arena chunk, described by an
// `Extent` record allocated from base memory. An extent is free, a slab
// (cut into regions of one small class), or a large allocation. Huge
// allocations reuse the same record shape, outside any chunk.
//
// Free extents are kept in size buckets (four per doubling of the page
// count); an allocation takes the lowest-addressed extent of the best-fitting
// bucket (address-ordered best fit), splits off what it does not need, and a
// freed extent coalesces with free neighbours on both sides.

/// What the pages of an extent hold (see Decay.swift for the lists).
enum PageContents: UInt8 {
  case zeroed = 0
  case dirty = 1
  case muzzy = 2
}

enum ExtentState: UInt8 {
  case free = 0
  case slab = 1
  case large = 2
  case huge = 3
}

enum SlabListState: UInt8 {
  case full = 0      // on no list: every region is handed out
  case current = 1   // the bin's current slab
  case nonfull = 2   // on the bin's nonfull list
  case spare = 3     // empty, kept by the bin for its next new slab (Bin.spare)
  case pooled = 4    // empty, in no bin: in its arena's slab pool (SlabPool)
}

/// Written under the owning arena's extentLock (address, pages, state,
/// contents, sizeClass, free-list and LRU links, page counts), except: a
/// slab's freeRegions, slabList, next/prev (nonfull list) and bitmap under
/// its bin's lock; a huge record by its block's owner, and while cached under
/// hugeCacheLock; profSample under profLock. (Whether a large run sits
/// freed in a thread cache is a bit of its first page's page-map entry:
/// pageEntryCachedBit.)
struct Extent {
  // Layout: what a slab's region traffic reads and writes (a refill's
  // bitmap scan, a flush's returns, the nonfull list) fills the record's
  // first 64 bytes, bitmap included, so each slab touched costs one cache
  // line, not two; `sampled` is there too, which a large run's
  // thread-cache free tests once the profiler has sampled
  // (freeLargeToCache). The other fields (page runs, decay, huge blocks)
  // follow. Swift lays a struct's stored properties out in declaration
  // order; ExtentTests.testASlabsRegionFieldsShareTheRecordsFirstLine
  // checks the offsets.
  var address: UInt = 0
  var next: UnsafeMutablePointer<Extent>? = nil
  var prev: UnsafeMutablePointer<Extent>? = nil
  /// Slabs: free regions (at most 256: extentRecordBoot checks).
  var freeRegions: UInt16 = 0
  var sizeClass: UInt16 = 0
  var state: ExtentState = .free
  var slabList: SlabListState = .full
  /// profSample != nil, in the first line for the large free's test.
  /// (Written only by profSample's setter; not private, which would make
  /// the memberwise initializer private too.)
  var sampled = false
  /// Slabs: the free-region bitmap (extentBitmapWords words: a slab holds
  /// at most 256 regions; extentRecordBoot checks), read through `bitmap`.
  var bitmapWords: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
  var pages: UInt = 0
  /// Free extents: the decay list the extent is on (.dirty: it has dirty
  /// pages; .muzzy: muzzy pages and no dirty ones; .zeroed: neither, on no
  /// list). Extents just taken from the free store: .zeroed when every page
  /// is known to read zero (calloc skips its memset).
  var contents: PageContents = .dirty
  /// Huge cache entries: when the mapping was cached; free extents on the
  /// dirty list: when they were filed there (decayMakeRoom). Milliseconds
  /// of monotonicMs, truncated.
  var sinceMs: UInt32 = 0
  /// Free extents: pages in the dirty and muzzy states (exact: counted from
  /// the chunk's page-state bitmaps, see Chunk.swift).
  var dirtyPages: UInt32 = 0
  var muzzyPages: UInt32 = 0
  /// Free extents only: links in the arena's dirty or muzzy LRU list.
  var lruNext: UnsafeMutablePointer<Extent>? = nil
  var lruPrev: UnsafeMutablePointer<Extent>? = nil
  /// Huge records only: pages mapped, at least `pages` (the usable size); more
  /// when a cached mapping larger than the request was reused.
  var mappedPages: UInt = 0
  /// Large runs and huge blocks sampled by the heap profiler: their sample
  /// (Prof.swift); nil otherwise.
  var profSample: UnsafeMutableRawPointer? {
    get { profSampleStorage }
    set { profSampleStorage = newValue; sampled = newValue != nil }
  }
  /// profSample's value (written only by its setter, as `sampled`).
  var profSampleStorage: UnsafeMutableRawPointer? = nil
}

/// Offset of a slab's bitmap words inside its Extent record (bitmapWords,
/// in the record's first cache line).
let extentBitmapOffset = 32
/// Words of the bitmap a record holds: 256 regions, the most a slab has
/// (the 16-byte class's one-page slab).
let extentBitmapWords: UInt = 4

/// Sets config.extentRecordSize: the whole record, in 64-byte lines.
func extentRecordBoot() {
  if Bitmap.wordCount(bits: config.maxRegionsPerSlab) > extentBitmapWords {
    fatal("a slab has more regions than an extent record's bitmap holds")
  }
  config.extentRecordSize = (UInt(MemoryLayout<Extent>.stride) &+ 63) & ~63
}

/// Extent's next/prev, the links of three lists: a free extent's bucket
/// (ExtentBuckets), a slab on its bin's nonfull list (Bin.swift), a huge
/// record in the huge cache (Huge.swift).
enum ExtentLinks: ListLinks {
  @inline(__always) static func next(_ e: UnsafeMutablePointer<Extent>) -> UnsafeMutablePointer<Extent>? { e.pointee.next }
  @inline(__always) static func prev(_ e: UnsafeMutablePointer<Extent>) -> UnsafeMutablePointer<Extent>? { e.pointee.prev }
  @inline(__always) static func setNext(_ e: UnsafeMutablePointer<Extent>, _ n: UnsafeMutablePointer<Extent>?) {
    e.pointee.next = n
  }
  @inline(__always) static func setPrev(_ e: UnsafeMutablePointer<Extent>, _ p: UnsafeMutablePointer<Extent>?) {
    e.pointee.prev = p
  }
}

/// Extent's lruNext/lruPrev: a free extent's place in its arena's dirty or
/// muzzy LRU list (Decay.swift), while it is also in a bucket.
enum ExtentLruLinks: ListLinks {
  @inline(__always) static func next(_ e: UnsafeMutablePointer<Extent>) -> UnsafeMutablePointer<Extent>? { e.pointee.lruNext }
  @inline(__always) static func prev(_ e: UnsafeMutablePointer<Extent>) -> UnsafeMutablePointer<Extent>? { e.pointee.lruPrev }
  @inline(__always) static func setNext(_ e: UnsafeMutablePointer<Extent>, _ n: UnsafeMutablePointer<Extent>?) {
    e.pointee.lruNext = n
  }
  @inline(__always) static func setPrev(_ e: UnsafeMutablePointer<Extent>, _ p: UnsafeMutablePointer<Extent>?) {
    e.pointee.lruPrev = p
  }
}

/// A list of extents through next/prev.
typealias ExtentList = IntrusiveList<ExtentLinks>

extension UnsafeMutablePointer where Pointee == Extent {
  @inline(__always) var bitmap: Bitmap {
    let words = (UnsafeMutableRawPointer(self) + extentBitmapOffset).assumingMemoryBound(to: UInt64.self)
    return Bitmap(words: words, bitCount: UInt(config.binInfos[Int(pointee.sizeClass)].regionCount))
  }
  @inline(__always) var end: UInt { pointee.address &+ (pointee.pages << pageShift) }
}

/// Free-extent bucket of a page count: 1..7 exactly, then four per doubling.
@inline(__always)
func extentBucket(pages: UInt) -> Int {
  if pages < 8 { return Int(pages) &- 1 }
  let lg = UInt(63 &- pages.leadingZeroBitCount)
  return 7 &+ Int((lg &- 3) &* 4 &+ ((pages >> (lg &- 2)) & 3))
}

let extentBucketCount = 64

/// Address-ordered best-fit store of free extents.
struct ExtentBuckets {
  /// extentBucketCount lists (base memory, one word each).
  var heads: UnsafeMutablePointer<ExtentList>
  var nonEmpty: UInt64 = 0

  mutating func insert(_ e: UnsafeMutablePointer<Extent>) {
    let b = extentBucket(pages: e.pointee.pages)
    heads[b].pushFront(e)
    nonEmpty |= UInt64(1) << UInt64(b)
  }

  mutating func remove(_ e: UnsafeMutablePointer<Extent>) {
    let b = extentBucket(pages: e.pointee.pages)
    heads[b].remove(e)
    if heads[b].isEmpty { nonEmpty &= ~(UInt64(1) << UInt64(b)) }
  }

  /// The lowest-addressed extent of at least `pages` pages in the smallest
  /// bucket that has one, left in the store (arenaAllocPages carves it in
  /// place or removes it).
  func bestFit(pages: UInt) -> UnsafeMutablePointer<Extent>? {
    let first = extentBucket(pages: pages)
    if let e = lowestFitting(in: first, pages: pages) { return e }
    let higher = first &+ 1 < 64 ? nonEmpty & ~((UInt64(1) << UInt64(first &+ 1)) &- 1) : 0
    if higher == 0 { return nil }
    // Every extent in a higher bucket is large enough.
    return lowestFitting(in: higher.trailingZeroBitCount, pages: 1)
  }

  /// A stored extent of `oldPages` pages now has `e.pages`: moves it to the
  /// bucket of its new size when that is another one.
  mutating func resized(_ e: UnsafeMutablePointer<Extent>, from oldPages: UInt) {
    let old = extentBucket(pages: oldPages)
    let new = extentBucket(pages: e.pointee.pages)
    if old == new { return }
    heads[old].remove(e)
    if heads[old].isEmpty { nonEmpty &= ~(UInt64(1) << UInt64(old)) }
    heads[new].pushFront(e)
    nonEmpty |= UInt64(1) << UInt64(new)
  }

  private func lowestFitting(in bucket: Int, pages: UInt) -> UnsafeMutablePointer<Extent>? {
    var best: UnsafeMutablePointer<Extent>? = nil
    var e = heads[bucket].first
    while let cur = e {
      if cur.pointee.pages >= pages && (best == nil || cur.pointee.address < best.unsafelyUnwrapped.pointee.address) {
        best = cur
      }
      e = cur.pointee.next
    }
    return best
  }
}

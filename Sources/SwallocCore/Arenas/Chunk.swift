// Arena chunks: naturally aligned 4 MiB regions made of user pages only,
// carved into page runs (extents) for slabs and large allocations.
//
// Their metadata lives out of band, in a ChunkMeta record from base memory
// that the radix page map (PageMap.swift) points at: the owning arena, a
// per-page map and two page-state bitmaps. Nothing a buffer overflow or a
// write after free into user memory can reach describes a chunk (before,
// the header sat in the chunk's first pages, right after the previous
// chunk's last block: a linear overflow rewrote the arena pointer and page
// entries, see docs/ARCHITECTURE.md, "Hardening").
//
// Page-map entry (one UInt per page):
//   bits 0..47   address of the Extent record covering the page (0: none);
//                records are 64-byte aligned, and on a slab's pages bits
//                0..5 hold the page's index in its slab (slabs have at
//                most 16 pages), so a region boundary is checked from the
//                entry alone (slabEntryRegionIndex); on a large run's
//                first page bit 0 is set while the run sits freed in a
//                thread cache or the quarantine (pageEntryCachedBit)
//   bits 54..63  size class + 1 when the page starts a large allocation or
//                belongs to a slab; 0 for free extents and for the last page
//                of a large run (so a pointer into it is never taken as a
//                valid allocation). Bits 48..53 are 0: bits 48..63 are the
//                class's stack offset in a thread cache.
// Entries are kept for every page of a slab (any region may be freed), and
// for the first and last page of large runs and free extents (the last page
// lets a freed neighbour find this extent to coalesce with it).
//
// Bin map (one UInt16 per page, before the page map): bits 48..63 of each
// page's entry again, for the free fast path, which needs only those (see
// chunkMetaBinMapOffset).
//
// Page-state bitmaps (free pages only; pages in use have neither bit):
//   dirty   freed and not purged since: resident
//   muzzy   handed back with MADV_FREE: resident until the kernel needs it
//   neither fresh from mmap or purged with MADV_DONTNEED: not resident, zero
// They make the resident figure exact however free extents split and merge
// (Decay.swift).

import CSwallocPlatform

/// `arena` and `chunk` are set when the record is made, read-only after; the
/// page map and page-state bitmaps behind it are written under the arena's
/// extentLock (the free paths read the page map without it).
struct ChunkMeta {
  /// First: the free fast path reads it as the record's first word
  /// (chunkMetaArenaWord).
  var arena: UnsafeMutablePointer<Arena>
  /// The chunk's base address.
  var chunk: UInt
}

/// Byte offset of the bin map inside a ChunkMeta record: one UInt16 per
/// page, a copy of bits 48..63 of the page's page-map entry (the byte
/// offset of its class's stack among a thread cache's bins, 0 when no
/// allocation starts on the page), which is all the free fast path reads.
/// Why a copy: a free's entry load missed the L1 cache on most frees of a
/// program whose blocks span more pages than the cache holds entries for
/// (8 bytes a page: 48 KiB of L1 covers 24 MiB, and the program's own data
/// shares it); at 2 bytes a page four times the heap fits. bench aligned
/// (an 18 MiB heap of blocks up to 32 KiB): the fast path's load missed on
/// 860K of 1.5M frees (cachegrind, this machine's L1 and L2). The map is
/// written only with its entry, by storePageEntry.
let chunkMetaBinMapOffset = 64
/// Pages per chunk, as a compile-time constant for the record's layout
/// (config.pagesPerChunk is set from it).
let chunkPages = Int(chunkSize >> pageShift)
/// Byte offset of the page map inside a ChunkMeta record, after the bin
/// map; the dirty and muzzy bitmaps follow the map.
let chunkMetaPageMapOffset = chunkMetaBinMapOffset + chunkPages * 2
// Pages per chunk, words of one page-state bitmap and bytes of one
// ChunkMeta record: boot-once, in `config` (chunkGeometryBoot).

let pageEntryAddressMask: UInt = (1 << 48) &- 1
/// The Extent address in an entry: bits 6..47 (see above).
let pageEntryExtentMask: UInt = pageEntryAddressMask & ~63
/// A page-map entry: the extent's address in bits 0-47, its class code
/// (class index + 1, 0: no allocation starts on this page) in bits 54-63.
/// Bits 48-53 stay 0, so the 16 bits from 48 are the code << 6, the byte
/// offset of the class's stack among a tcache's bins (tcacheBinShift): the
/// free fast path loads that half-word and adds it without a shift.
let pageEntryClassShift: UInt = 54
let pageEntryBinOffsetShift: UInt = 48

/// Bit 0 of a large run's first-page entry: the run was freed into a
/// thread cache or the secure quarantine and is not live until a malloc
/// takes it out again (largeSetCached). Every free of a large block tests
/// it: a second free fails. In the entry, which the free paths load
/// anyway, rather than in the run's Extent record: that record was one
/// more cache line per large free and per cached large malloc (bench
/// aligned, 2048 blocks up to 32 KiB replaced at random: 1.4M L1 misses
/// in freeMiss at scale 3, cachegrind).
let pageEntryCachedBit: UInt = 1

/// Recycled ChunkMeta records. Guarded by chunkMetaRecycleLock.
nonisolated(unsafe) var chunkMetaRecycleList = RecycleList()
nonisolated(unsafe) var chunkMetaRecycleLock = Mutex()

func chunkGeometryBoot() {
  config.pagesPerChunk = UInt(chunkPages)
  config.chunkStateWords = (config.pagesPerChunk &+ 63) >> 6
  config.chunkMetaSize = (UInt(chunkMetaPageMapOffset) &+ config.pagesPerChunk &* 8 &+ 2 &* config.chunkStateWords &* 8 &+ 63) & ~63
}

/// Writes page `index`'s entry in `map` (a chunk's page map) and its copy
/// in the chunk's bin map: for every entry that gives a page a class or
/// takes it away (slabs made and freed, large runs made, resized and
/// freed). A page has a class only while an allocation starts there, so
/// the bin map of every other page is 0, and the free extents' boundary
/// markers, which never have a class, are written by storeMarkerEntry,
/// without it (bench burst: 1.8M instructions more in `wl burst 1 0.1`
/// with every entry written through here, 0.4M with the markers not).
@inline(__always)
func storePageEntry(_ map: UnsafeMutablePointer<UInt>, _ index: Int, _ entry: UInt) {
  map[index] = entry
  UnsafeMutableRawPointer(map).storeBytes(of: UInt16(truncatingIfNeeded: entry >> pageEntryBinOffsetShift),
                                          toByteOffset: (index &- chunkPages) &* 2, as: UInt16.self)
}

/// Writes a class-0 entry (a free extent's boundary marker, or its
/// removal) on page `index`, which has no class either: its bin map holds
/// 0 already.
@inline(__always)
func storeMarkerEntry(_ map: UnsafeMutablePointer<UInt>, _ index: Int, _ entry: UInt) {
  invariant(entry >> pageEntryClassShift == 0 && binMapValue(map, index) == 0,
            "a free extent's boundary marker written over a page with a class")
  map[index] = entry
}

/// Page `index`'s bin-map half-word, from `map` (a chunk's page map): for
/// the invariant checks that it matches the entry.
@inline(__always)
func binMapValue(_ map: UnsafePointer<UInt>, _ index: Int) -> UInt16 {
  UnsafeRawPointer(map).load(fromByteOffset: (index &- chunkPages) &* 2, as: UInt16.self)
}

/// A zeroed ChunkMeta for `chunk`, recycled or from base memory. A new
/// record starts on a page: a chunk's first slab or run writes the
/// record's head (its header, bin map and the first page entries, 2.2 KiB)
/// and its tail (the last page's entry, which marks the free run after
/// the first allocation, and the page-state bitmaps), 10.3 KiB apart,
/// two pages when the record starts on one and three when it does not
/// (the first malloc's resident pages: tests/memtruth first_malloc).
func chunkMetaCreate(chunk: UInt, arena: UnsafeMutablePointer<Arena>) -> UnsafeMutablePointer<ChunkMeta>? {
  var raw = recyclePop(&chunkMetaRecycleList, &chunkMetaRecycleLock)
  if let r = raw { memset(r, 0, Int(config.chunkMetaSize)) } else { raw = baseAlloc(config.chunkMetaSize, alignment: pageSize) }
  guard let raw else { return nil }
  let m = raw.bindMemory(to: ChunkMeta.self, capacity: 1)
  m.initialize(to: ChunkMeta(arena: arena, chunk: chunk))
  return m
}

func chunkMetaRecycle(_ m: UnsafeMutablePointer<ChunkMeta>) {
  recyclePush(&chunkMetaRecycleList, &chunkMetaRecycleLock, UnsafeMutableRawPointer(m))
}

extension UnsafeMutablePointer where Pointee == ChunkMeta {
  @inline(__always) var pageMap: UnsafeMutablePointer<UInt> {
    (UnsafeMutableRawPointer(self) + chunkMetaPageMapOffset).assumingMemoryBound(to: UInt.self)
  }
  @inline(__always) var dirtyBits: UnsafeMutablePointer<UInt64> {
    (UnsafeMutableRawPointer(self) + chunkMetaPageMapOffset + Int(config.pagesPerChunk &* 8)).assumingMemoryBound(to: UInt64.self)
  }
  @inline(__always) var muzzyBits: UnsafeMutablePointer<UInt64> { dirtyBits + Int(config.chunkStateWords) }
}

/// The ChunkMeta of an address known to lie in an arena chunk (a block the
/// allocator handed out and validated, or an extent's page): no checks.
@inline(__always)
func chunkMeta(_ address: UInt) -> UnsafeMutablePointer<ChunkMeta> {
  UnsafeMutablePointer<ChunkMeta>(bitPattern: pageMapEntry(address) & ~pageMapArenaChunkTag).unsafelyUnwrapped
}

/// chunkMeta for a sequence of addresses in arena chunks, with one radix
/// lookup per run of addresses in one chunk (a flush's items: a thread
/// cache's stack holds runs of blocks of one slab). The caller guarantees
/// each chunk stays mapped while it uses the record (its items are live
/// blocks).
struct ChunkMetaCursor {
  private var chunk: UInt = 1
  private var meta = UnsafeMutablePointer<ChunkMeta>(bitPattern: 0)

  @inline(__always)
  mutating func meta(_ address: UInt) -> UnsafeMutablePointer<ChunkMeta> {
    if address & ~chunkMask != chunk {
      chunk = address & ~chunkMask
      meta = chunkMeta(address)
    }
    return meta.unsafelyUnwrapped
  }
}

/// The arena of a chunk, as a word, from its radix leaf entry (its
/// ChunkMeta's address | pageMapArenaChunkTag): ChunkMeta.arena is the
/// record's first field. For the free fast path's ownership test.
@inline(__always)
func chunkMetaArenaWord(leaf: UInt) -> UInt {
  UnsafePointer<UInt>(bitPattern: leaf &- pageMapArenaChunkTag).unsafelyUnwrapped.pointee
}

/// The ChunkMeta of any address, nil when it is not in an arena chunk.
@inline(__always)
func arenaChunkMeta(_ address: UInt) -> UnsafeMutablePointer<ChunkMeta>? {
  let entry = pageMapEntry(address)
  if entry & pageMapArenaChunkTag == 0 || address >> addressBits != 0 { return nil }
  return UnsafeMutablePointer<ChunkMeta>(bitPattern: entry & ~pageMapArenaChunkTag)
}

/// The arena that owns the chunk of `address` (an address known to lie in
/// an arena chunk).
@inline(__always)
func chunkArena(_ address: UInt) -> UnsafeMutablePointer<Arena> { chunkMeta(address).pointee.arena }

@inline(__always)
func pageIndexInChunk(_ address: UInt) -> UInt { (address & chunkMask) &>> pageShift }

@inline(__always)
func makePageEntry(_ extent: UnsafeMutablePointer<Extent>, classPlusOne: UInt) -> UInt {
  UInt(bitPattern: extent) | (classPlusOne << pageEntryClassShift)
}

@inline(__always)
func pageEntryExtent(_ entry: UInt) -> UnsafeMutablePointer<Extent>? {
  UnsafeMutablePointer<Extent>(bitPattern: entry & pageEntryExtentMask)
}

// MARK: Page-state bitmaps (the owning arena's extent lock held)

/// Calls `body(word, mask)` for each bitmap word overlapping pages
/// [first, first + count) of a chunk.
@inline(__always)
private func forEachStateWord(first: UInt, count: UInt, _ body: (Int, UInt64) -> Void) {
  var page = first
  let end = first &+ count
  while page < end {
    let bit = page & 63
    let n = min(64 &- bit, end &- page)
    let mask = n == 64 ? UInt64.max : ((UInt64(1) << UInt64(n)) &- 1) << UInt64(bit)
    body(Int(page >> 6), mask)
    page &+= n
  }
}

/// Dirty and muzzy pages among `pages` pages from `address`.
func pageStateCount(_ address: UInt, pages: UInt) -> (dirty: UInt, muzzy: UInt) {
  let m = chunkMeta(address)
  let d = m.dirtyBits, z = m.muzzyBits
  var dirty: UInt = 0, muzzy: UInt = 0
  forEachStateWord(first: pageIndexInChunk(address), count: pages) { w, mask in
    dirty &+= UInt((d[w] & mask).nonzeroBitCount)
    muzzy &+= UInt((z[w] & mask).nonzeroBitCount)
  }
  return (dirty, muzzy)
}

/// Marks pages dirty (freed), clean (taken into use or purged), or moves
/// their dirty bits to muzzy (MADV_FREE). Returns whether any of the pages
/// was dirty or muzzy before.
enum PageStateChange { case freed, cleared, madeMuzzy }

@discardableResult
func pageStateSet(_ address: UInt, pages: UInt, _ change: PageStateChange) -> Bool {
  let m = chunkMeta(address)
  let d = m.dirtyBits, z = m.muzzyBits
  var any: UInt64 = 0
  forEachStateWord(first: pageIndexInChunk(address), count: pages) { w, mask in
    any |= (d[w] | z[w]) & mask
    switch change {
    case .freed: d[w] |= mask; z[w] &= ~mask
    case .cleared: d[w] &= ~mask; z[w] &= ~mask
    case .madeMuzzy: z[w] |= d[w] & mask; d[w] &= ~mask
    }
  }
  return any != 0
}

// The two changes every page run made or freed makes, written for their
// callers' hot paths (a slab made and emptied per dozen blocks of bench
// burst): the chunk's record passed in rather than looked up again through
// the radix map, and one bitmap word for the common run of at most 64
// pages within a word, where forEachStateWord's loop and pageStateSet's
// switch cost about 80 instructions a call (callgrind).

/// The mask of pages [first, first + count) within their bitmap word, when
/// they share one; nil otherwise.
@inline(__always)
private func singleStateWordMask(first: UInt, count: UInt) -> UInt64? {
  let bit = first & 63
  if count == 0 || bit &+ count > 64 { return nil }
  return (count == 64 ? UInt64.max : (UInt64(1) << UInt64(count)) &- 1) << UInt64(bit)
}

/// The set bits of `bits`, a subset of `mask`'s `count` bits. All or none
/// is the usual case (pages freed together, or never used), counted
/// without the popcount, which x86-64's baseline lacks: about 20
/// instructions each.
@inline(__always)
private func bitsSet(_ bits: UInt64, of mask: UInt64, count: UInt) -> UInt {
  if bits == mask { return count }
  if bits == 0 { return 0 }
  return UInt(bits.nonzeroBitCount)
}

/// Pages [first, first + count) of chunk `m` taken into use: their state
/// bits cleared; returns how many were dirty and how many muzzy.
@inline(__always)
func pageStateTake(_ m: UnsafeMutablePointer<ChunkMeta>, first: UInt, count: UInt) -> (dirty: UInt, muzzy: UInt) {
  let d = m.dirtyBits, z = m.muzzyBits
  if let mask = singleStateWordMask(first: first, count: count) {
    let w = Int(first >> 6)
    let dw = d[w], zw = z[w]
    d[w] = dw & ~mask
    z[w] = zw & ~mask
    return (bitsSet(dw & mask, of: mask, count: count), bitsSet(zw & mask, of: mask, count: count))
  }
  var dirty: UInt = 0, muzzy: UInt = 0
  forEachStateWord(first: first, count: count) { w, mask in
    dirty &+= UInt((d[w] & mask).nonzeroBitCount)
    muzzy &+= UInt((z[w] & mask).nonzeroBitCount)
    d[w] &= ~mask
    z[w] &= ~mask
  }
  return (dirty, muzzy)
}

/// Pages [first, first + count) of chunk `m`, in use until now (neither
/// bit set), freed: all dirty.
@inline(__always)
func pageStateFree(_ m: UnsafeMutablePointer<ChunkMeta>, first: UInt, count: UInt) {
  let d = m.dirtyBits, z = m.muzzyBits
  if let mask = singleStateWordMask(first: first, count: count) {
    let w = Int(first >> 6)
    invariant((d[w] | z[w]) & mask == 0, "pages in use had a dirty or muzzy bit")
    d[w] |= mask
    return
  }
  forEachStateWord(first: first, count: count) { w, mask in
    invariant((d[w] | z[w]) & mask == 0, "pages in use had a dirty or muzzy bit")
    d[w] |= mask
  }
}

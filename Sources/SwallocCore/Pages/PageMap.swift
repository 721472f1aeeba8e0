// The pointer -> metadata map: a two-level radix tree over a 48-bit address
// space at chunk (4 MiB) granularity. A lookup is two dependent loads and no
// branch: root slots without a leaf of their own point at one shared,
// never-written leaf of zeros.
//
// The split keeps what a small program touches small: the root (bits
// 39..47, 512 slots) is one page, written in full at boot; a leaf (bits
// 22..38, 1 MiB of address space each 512 GiB) is touched only on the pages
// holding entries, one page per 2 GiB of chunks, so a process whose heap
// fits in one leaf pays two pages for the whole map. (Before: a 32 KiB root,
// 8 pages written at boot, for 128 KiB leaves.) A leaf entry is either
//   ChunkMeta address | 1 the chunk belongs to an arena (its out-of-band
//                         record holds the per-page map, see Chunk.swift), or
//   descriptor address    the start of a huge allocation (an Extent record).
// Zero means "not allocated by swalloc".

import CSwallocPlatform
import Synchronization

let chunkShift: UInt = 22
let chunkSize: UInt = 1 << chunkShift
let chunkMask: UInt = chunkSize &- 1
let addressBits: UInt = 48
let rootShift: UInt = 39
let rootEntries = 1 << (addressBits - rootShift)          // 512
let leafEntries = 1 << (rootShift - chunkShift)           // 131072
let pageMapArenaChunkTag: UInt = 1

/// The root and the shared empty leaf are static (swalloc_platform.h), so
/// the free fast path reads a valid map before boot. The root's entries are
/// guarded by pageMapLock for writers; readers load them without it.
var pageMapRoot: UnsafeMutablePointer<UnsafeMutablePointer<UInt>> {
  @inline(__always) get {
    swalloc_pagemap_root_address().unsafelyUnwrapped.assumingMemoryBound(to: UnsafeMutablePointer<UInt>.self)
  }
}
var pageMapEmptyLeaf: UnsafeMutablePointer<UInt> {
  @inline(__always) get { swalloc_pagemap_empty_leaf_address().unsafelyUnwrapped.assumingMemoryBound(to: UInt.self) }
}
/// The hot leaf (swalloc_platform.h): the root index of the first leaf
/// made and that leaf. free's and realloc's fast paths and pageMapEntry
/// compare an address's root index with the first word and read the leaf
/// from the second, two loads that do not wait for the address, in place
/// of the root load that does: the entry is then one dependent load from
/// the address, not two. Nearly every process keeps its whole heap under
/// one root entry (512 GiB); other addresses take the two-level walk.
/// Read relaxed-atomically, the leaf before the index: a reader that sees
/// the index and not yet the leaf reads the empty leaf's zero, which sends
/// free and realloc to their slow paths (they walk the root); a caller of
/// pageMapEntry holds an address it got after the entry for it was
/// written, which came after the hot leaf was published (pageMapSet
/// publishes it when it makes the first leaf), so it sees both words.
var pageMapHot: UnsafeMutablePointer<UInt> {
  @inline(__always) get { swalloc_pagemap_hot_address().unsafelyUnwrapped.assumingMemoryBound(to: UInt.self) }
}

@inline(__always)
func pageMapHotIndex() -> UInt { atomicUInt(pageMapHot).pointee.load(ordering: .relaxed) }

@inline(__always)
func pageMapHotLeaf() -> UnsafeMutablePointer<UInt> {
  UnsafeMutablePointer<UInt>(bitPattern: atomicUInt(pageMapHot + 1).pointee.load(ordering: .relaxed)).unsafelyUnwrapped
}

/// Serializes making radix leaves; root entries are published with release
/// order and read without it.
nonisolated(unsafe) var pageMapLock = Mutex()

/// Bytes of the vector pageMapForEachEntry needs: one per page of a leaf
/// (1 MiB of entries in 4 KiB pages).
let pageMapLeafVectorBytes = leafEntries &* 8 / 4096

/// Calls `body` with every non-zero entry of the map. Only a leaf's resident
/// pages are read: an entry is written before it is used, so a page never
/// written holds none, and reading it would map the zero page under it,
/// which a mincore scan of base memory (stats.resident) then counts though
/// the kernel's RSS does not. `vector` holds pageMapLeafVectorBytes bytes.
func pageMapForEachEntry(vector: UnsafeMutablePointer<UInt8>, _ body: (UInt) -> Void) {
  let saved = swalloc_errno()
  let perPage = Int(pageSize >> 3)
  var r = 0
  while r < rootEntries {
    let leaf = pageMapRoot[r]
    if leaf != pageMapEmptyLeaf && mincore(UnsafeMutableRawPointer(leaf), leafEntries &* 8, vector) == 0 {
      var i = 0
      while i < leafEntries {
        if vector[i / perPage] & 1 == 0 { i &+= perPage; continue }
        let entry = leaf[i]
        if entry != 0 { body(entry) }
        i &+= 1
      }
    }
    r &+= 1
  }
  swalloc_set_errno(saved)
}

/// The static root starts with every entry at the empty leaf; boot resets
/// them (for the unit tests, which boot more than once).
func pageMapBoot() -> Bool {
  if rootEntries != Int(SWALLOC_PAGEMAP_ROOT_ENTRIES) || leafEntries != Int(SWALLOC_PAGEMAP_LEAF_ENTRIES) {
    fatal("the static page map does not match its geometry")
  }
  pageMapRoot.update(repeating: pageMapEmptyLeaf, count: rootEntries)
  pageMapHot[0] = ~0
  pageMapHot[1] = UInt(bitPattern: pageMapEmptyLeaf)
  return true
}

/// The leaf entry for `address`, with no validation: addresses above 48 bits
/// alias lower ones, so callers check `address >> addressBits == 0` (a huge
/// record also holds its address).
@inline(__always)
func pageMapEntry(_ address: UInt) -> UInt {
  // Through the hot leaf when the address is under it (nearly always: a
  // branch the processor predicts, so the entry is one load from the
  // address, as on free's fast path), else the walk.
  let rootIndex = (address &>> rootShift) & UInt(rootEntries &- 1)
  let hotLeaf = pageMapHotLeaf()
  if _fastPath(rootIndex == pageMapHotIndex()) {
    return pageMapSlot(hotLeaf, pageMapLeafIndex(address))
  }
  return pageMapSlot(forAddress: address, rootIndex: rootIndex)
}

/// The slot of `address`'s chunk in its leaf (bits 22..38).
@inline(__always)
func pageMapLeafIndex(_ address: UInt) -> Int {
  Int(bitPattern: (address &>> chunkShift) & UInt(leafEntries &- 1))
}

/// The leaf entry for `address` under root entry `rootIndex`, which is
/// below rootEntries: pageMapEntry masks it into range; the free and
/// realloc fast paths test `address >> rootShift` against rootEntries
/// instead, which also sends addresses of 48 bits and more to their slow
/// paths (one instruction fewer than pageMapLookup's mask and test).
@inline(__always)
func pageMapSlot(forAddress address: UInt, rootIndex: UInt) -> UInt {
  pageMapSlot(pageMapRoot[Int(rootIndex)], pageMapLeafIndex(address))
}

/// Reads slot `index` of `leaf`, relaxed-atomically (a plain load on
/// x86-64): pageMapSet writes slots atomically, and a free path may read
/// the slot of a huge block it is freeing just before another thread maps
/// the same range again and writes it, ordered only by the kernel's
/// munmap and mmap, which ThreadSanitizer cannot see (it reported the pair
/// in testConcurrentHandOffOfEveryKindOfBlock; PageMapTests reproduces it).
@inline(__always)
func pageMapSlot(_ leaf: UnsafeMutablePointer<UInt>, _ index: Int) -> UInt {
  atomicUInt(leaf + index).pointee.load(ordering: .relaxed)
}

/// Whether `address` lies in an arena chunk (exact: no aliasing).
@inline(__always)
func isInArenaChunk(_ address: UInt) -> Bool {
  pageMapEntry(address) & pageMapArenaChunkTag != 0 && address >> addressBits == 0
}

/// The validated entry for `address`: 0 when swalloc has nothing there.
@inline(__always)
func pageMapLookup(_ address: UInt) -> UInt {
  if address >> addressBits != 0 { return 0 }
  return pageMapEntry(address)
}

/// Records `value` for the chunk containing `address`, creating the leaf if
/// needed. Returns false when metadata memory is exhausted.
func pageMapSet(_ address: UInt, _ value: UInt) -> Bool {
  let rootIndex = Int((address >> rootShift) & UInt(rootEntries &- 1))
  var leaf = pageMapRoot[rootIndex]
  if leaf == pageMapEmptyLeaf {
    if value == 0 { return true }  // the shared empty leaf is never written
    let created: UnsafeMutablePointer<UInt>? = withLock(&pageMapLock) {
      let current = pageMapRoot[rootIndex]
      if current != pageMapEmptyLeaf { return current }
      guard let raw = baseAlloc(UInt(leafEntries &* 8), alignment: 4096) else { return nil }
      let l = raw.bindMemory(to: UInt.self, capacity: leafEntries)
      // Publish the zeroed leaf with release order so lock-free readers see zeros.
      atomicUInt(UnsafeMutableRawPointer(pageMapRoot + rootIndex).assumingMemoryBound(to: UInt.self))
        .pointee.store(UInt(bitPattern: raw), ordering: .releasing)
      // The first leaf is the hot one: its leaf, then its index.
      if pageMapHotIndex() == ~0 {
        atomicUInt(pageMapHot + 1).pointee.store(UInt(bitPattern: raw), ordering: .relaxed)
        atomicUInt(pageMapHot).pointee.store(UInt(rootIndex), ordering: .releasing)
      }
      return l
    }
    guard let created else { return false }
    leaf = created
  }
  // Atomic, as pageMapClear's compare-exchange is: a huge mapping's range
  // goes back to the kernel (munmap, or mremap moving it) and comes back to
  // another thread's mmap, and that thread writes this slot again with no
  // synchronization the program can see between the two writes
  // (ThreadSanitizer reported the pair in testConcurrentHandOffOfEveryKind-
  // OfBlock, on one run in several). Readers that may race with a write
  // are the free paths of pointers no longer valid, which validate what
  // they find.
  let slot = leaf + pageMapLeafIndex(address)
  atomicUInt(slot).pointee.store(value, ordering: .releasing)
  return true
}

/// Clears the entry for the chunk containing `address` if it still holds
/// `expected`: for a huge block that moved away, whose old range another
/// thread may have mapped and registered already (the kernel reuses freed
/// ranges at once), so a plain clear after the move would erase that
/// thread's live block.
func pageMapClear(_ address: UInt, ifEqualTo expected: UInt) {
  let leaf = pageMapRoot[Int((address >> rootShift) & UInt(rootEntries &- 1))]
  if leaf == pageMapEmptyLeaf { return }
  let slot = leaf + pageMapLeafIndex(address)
  _ = atomicUInt(slot).pointee.compareExchange(expected: expected, desired: 0, ordering: .relaxed)
}

// Pointer classification: what swalloc knows about a pointer it is handed
// (a small region, a large run or a huge mapping), found through the radix
// page map and the chunk's page map; anything else aborts.

import CSwallocPlatform

/// What the allocator knows about a pointer it handed out.
enum Allocation {
  case small(arena: UnsafeMutablePointer<Arena>, slab: UnsafeMutablePointer<Extent>, sizeClass: Int)
  case large(arena: UnsafeMutablePointer<Arena>, extent: UnsafeMutablePointer<Extent>, sizeClass: Int)
  case huge(record: UnsafeMutablePointer<Extent>)

  var usableSize: UInt {
    switch self {
    case .small(_, _, let c): return bootedClassSize(c)
    // (Whole pages of its class, or fewer: largeRunBytes.)
    case .large(_, let e, _), .huge(let e): return e.pointee.pages << pageShift
    }
  }
}

/// Classifies `pointer`, aborting with a message when swalloc did not hand
/// it out (or it was already returned to its arena).
func lookupAllocation(_ pointer: UnsafeMutableRawPointer, _ what: StaticString) -> Allocation {
  let address = UInt(bitPattern: pointer)
  let leaf = pageMapLookup(address)
  if leaf == 0 { invalidPointer(what) }
  if leaf & pageMapArenaChunkTag == 0 {
    let record = UnsafeMutablePointer<Extent>(bitPattern: leaf).unsafelyUnwrapped
    if record.pointee.address != address { invalidPointer(what) }
    return .huge(record: record)
  }
  let entry = pageEntry(address)
  invariant(binMapValue(chunkMeta(address).pageMap, Int(pageIndexInChunk(address)))
              == UInt16(truncatingIfNeeded: entry >> pageEntryBinOffsetShift),
            "a page's bin-map copy disagrees with its page-map entry")
  let classPlusOne = entry >> pageEntryClassShift
  guard classPlusOne != 0, let extent = pageEntryExtent(entry) else { invalidPointer(what) }
  let arena = chunkArena(address)
  let sizeClass = Int(classPlusOne &- 1)
  if sizeClass < config.smallClassCount {
    // The start of a region: realloc and malloc_usable_size of p + 16
    // took it for a block of its own (realloc moved it and cached p + 16
    // for the next malloc to hand out), and so did a free that found its
    // stack full. Whether the region is allocated takes its bin's
    // lock: binFreeLocked and the flushes check that. (From the page-map
    // entry: the slab's record is its bin lock's to read.)
    if slabEntryRegionIndex(entry, info: config.binInfos[sizeClass], address: address) == nil {
      invalidPointer(what, "not the start of an allocated block")
    }
    return .small(arena: arena, slab: extent, sizeClass: sizeClass)
  }
  // A run sitting in a thread cache was freed already.
  if extent.pointee.address != address || extent.pointee.state != .large || entry & pageEntryCachedBit != 0 {
    invalidPointer(what)
  }
  return .large(arena: arena, extent: extent, sizeClass: sizeClass)
}

/// The class code (size class + 1) of the small block at `address` when
/// the address lies under the page map's hot leaf, in a slab, at the start
/// of one of its regions: lookupAllocation's answer and check for the
/// common case, from the page's entry alone (which holds the page's index
/// in its slab), without the radix walk, the chunk record found twice and
/// the Allocation built. 0 otherwise (NULL, before boot, another root
/// entry, a large or huge block, anything swalloc did not hand out): the
/// caller's full path decides. For the calls that programs make at every
/// malloc or free besides the pair itself (malloc_usable_size: redis
/// counts its heap with it; free_sized, sdallocx).
@inline(__always)
func hotSmallBlockCode(_ address: UInt) -> UInt {
  if address &>> rootShift != pageMapHotIndex() { return 0 }
  let leaf = pageMapSlot(pageMapHotLeaf(), pageMapLeafIndex(address))
  if leaf & pageMapArenaChunkTag == 0 { return 0 }
  let meta = UnsafeMutablePointer<ChunkMeta>(bitPattern: leaf &- pageMapArenaChunkTag).unsafelyUnwrapped
  let entry = meta.pageMap[Int(pageIndexInChunk(address))]
  let code = entry >> pageEntryClassShift
  if code &- 1 >= UInt(bitPattern: config.smallClassCount) || entry & pageEntryExtentMask == 0 { return 0 }
  return slabEntryRegionIndex(entry, info: config.binInfos[Int(bitPattern: code &- 1)], address: address) != nil ? code : 0
}

func invalidPointer(_ what: StaticString,
                    _ why: StaticString = "not allocated by swalloc, or already freed") -> Never {
  writeStderr("swalloc: ")
  writeStderr(what)
  writeStderr("(): invalid pointer (")
  writeStderr(why)
  writeStderr(")\n")
  swalloc_abort()
}


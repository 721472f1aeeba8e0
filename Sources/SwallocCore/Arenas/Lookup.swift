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

func invalidPointer(_ what: StaticString,
                    _ why: StaticString = "not allocated by swalloc, or already freed") -> Never {
  writeStderr("swalloc: ")
  writeStderr(what)
  writeStderr("(): invalid pointer (")
  writeStderr(why)
  writeStderr(")\n")
  swalloc_abort()
}


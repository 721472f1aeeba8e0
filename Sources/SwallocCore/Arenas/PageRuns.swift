// Page runs, the extent layer of an arena: extent records, chunks added to
// the arena, free runs found best-fit, split, and coalesced on free with
// their page states counted; all with the arena's extentLock held.

import CSwallocPlatform
import Synchronization

// MARK: Extent records (extentLock held)

func arenaNewRecord(_ a: UnsafeMutablePointer<Arena>) -> UnsafeMutablePointer<Extent>? {
  if let r = a.pointee.recordCache {
    a.pointee.recordCache = r.pointee.next
    r.initialize(to: Extent())
    return r
  }
  guard let raw = baseAlloc(config.extentRecordSize, alignment: 64) else { return nil }
  let r = raw.bindMemory(to: Extent.self, capacity: 1)
  r.initialize(to: Extent())
  return r
}

func arenaRecycleRecord(_ a: UnsafeMutablePointer<Arena>, _ r: UnsafeMutablePointer<Extent>) {
  r.pointee.next = a.pointee.recordCache
  a.pointee.recordCache = r
}

// MARK: Chunks and page runs (extentLock held)

@inline(__always)
func setPageEntry(_ address: UInt, _ value: UInt) {
  storePageEntry(chunkMeta(address).pageMap, Int(pageIndexInChunk(address)), value)
}

@inline(__always)
func pageEntry(_ address: UInt) -> UInt {
  chunkMeta(address).pageMap[Int(pageIndexInChunk(address))]
}

/// Marks the large run that starts at `address` as freed into a thread
/// cache or the quarantine, or as live again (pageEntryCachedBit).
@inline(__always)
func largeSetCached(_ address: UInt, _ cached: Bool) {
  let slot = chunkMeta(address).pageMap + Int(pageIndexInChunk(address))
  storeCachedMark(slot, cached ? slot.pointee | pageEntryCachedBit : slot.pointee & ~pageEntryCachedBit)
}

/// Writes a large run's first-page entry with its cached bit changed: the
/// one page-map write made without the extent lock. Only the thread that
/// frees the run or takes it out of its cache makes it, while a thread
/// freeing the run's left neighbour, under the lock, may read the entry
/// (neighbourEntry): both sides atomic, so that read is not a data race
/// (a plain mov each on x86-64). The read finds the same record either
/// way (pageEntryExtent masks the bit).
@inline(__always)
func storeCachedMark(_ slot: UnsafeMutablePointer<UInt>, _ entry: UInt) {
  atomicUInt(slot).pointee.store(entry, ordering: .relaxed)
}

/// Page `index`'s entry in `map`, read to look at a neighbouring run (the
/// coalescing of a freed run, a large run growing in place): that page
/// may start a large run another thread is marking cached or live
/// (storeCachedMark).
@inline(__always)
func neighbourEntry(_ map: UnsafeMutablePointer<UInt>, _ index: Int) -> UInt {
  atomicUInt(map + index).pointee.load(ordering: .relaxed)
}

/// Free extents are findable from their first and last pages. `map` is
/// the extent's chunk's page map (callers that walk a run look it up once).
@inline(__always)
func markFreeBoundaries(_ e: UnsafeMutablePointer<Extent>, map: UnsafeMutablePointer<UInt>) {
  invariant(e.pointee.pages > 0 && e.end <= (e.pointee.address & ~chunkMask) &+ chunkSize,
            "a free extent is empty or crosses its chunk's end")
  invariant(UInt(e.pointee.dirtyPages) &+ UInt(e.pointee.muzzyPages) <= e.pointee.pages,
            "a free extent has more dirty and muzzy pages than pages")
  let entry = makePageEntry(e, classPlusOne: 0)
  let first = Int(pageIndexInChunk(e.pointee.address))
  storeMarkerEntry(map, first, entry)
  storeMarkerEntry(map, first &+ Int(e.pointee.pages) &- 1, entry)
}

func markFreeBoundaries(_ e: UnsafeMutablePointer<Extent>) {
  markFreeBoundaries(e, map: chunkMeta(e.pointee.address).pageMap)
}

/// Removes free extent `e`'s boundary markers (it is merged or resized).
@inline(__always)
func clearBoundaries(_ e: UnsafeMutablePointer<Extent>, map: UnsafeMutablePointer<UInt>) {
  let first = Int(pageIndexInChunk(e.pointee.address))
  storeMarkerEntry(map, first, 0)
  storeMarkerEntry(map, first &+ Int(e.pointee.pages) &- 1, 0)
}

func clearBoundaries(_ e: UnsafeMutablePointer<Extent>) {
  clearBoundaries(e, map: chunkMeta(e.pointee.address).pageMap)
}

/// Maps a new chunk for the arena and files its usable pages as one free extent.
func arenaAddChunk(_ a: UnsafeMutablePointer<Arena>) -> Bool {
  guard let raw = mapAligned(chunkSize, alignment: chunkSize) else { return false }
  // Before any page is touched: the kernel picks the page size at the fault.
  adviseHugePages(raw, chunkSize, config.thpAdviceChunks)
  let chunk = UInt(bitPattern: raw)
  guard let meta = chunkMetaCreate(chunk: chunk, arena: a) else {
    unmapPages(raw, chunkSize)
    return false
  }
  // The free run's record after the chunk's: a new one is cut from base
  // memory behind the record, on the page of its tail (chunkMetaCreate).
  guard let record = arenaNewRecord(a) else {
    unmapPages(raw, chunkSize)
    chunkMetaRecycle(meta)
    return false
  }
  if !pageMapSet(chunk, UInt(bitPattern: meta) | pageMapArenaChunkTag) {
    unmapPages(raw, chunkSize)
    chunkMetaRecycle(meta)
    arenaRecycleRecord(a, record)
    return false
  }
  // Fresh pages: neither dirty nor muzzy (the record's bitmaps are zero).
  record.pointee.address = chunk
  record.pointee.pages = chunkUsablePages
  a.pointee.freeExtents.insert(record)
  markFreeBoundaries(record)
  decayTrack(a, record)
  a.pointee.chunkCount &+= 1
  a.pointee.emptyChunkCount &+= 1
  return true
}

/// A free extent's dirty and muzzy page counts, from the page-state bitmaps.
@inline(__always)
func extentCountStates(_ e: UnsafeMutablePointer<Extent>) {
  let (dirty, muzzy) = pageStateCount(e.pointee.address, pages: e.pointee.pages)
  e.pointee.dirtyPages = UInt32(truncatingIfNeeded: dirty)
  e.pointee.muzzyPages = UInt32(truncatingIfNeeded: muzzy)
}

/// Files free extent `e` (its address, pages and page counts set) in the
/// store and its decay list, its boundary pages mapping to it in `map`
/// (its chunk's page map).
@inline(__always)
private func fileFreeExtent(_ a: UnsafeMutablePointer<Arena>, _ e: UnsafeMutablePointer<Extent>,
                            map: UnsafeMutablePointer<UInt>) {
  a.pointee.freeExtents.insert(e)
  markFreeBoundaries(e, map: map)
  invariant(pageStateCount(e.pointee.address, pages: e.pointee.pages)
              == (UInt(e.pointee.dirtyPages), UInt(e.pointee.muzzyPages)),
            "a free extent's page counts disagree with its chunk's page states")
  decayTrack(a, e)
}

/// Takes `pages` pages whose start is aligned to `alignPages` pages (a power
/// of two), splitting off the unused head and tail. The caller sets the
/// state and page-map entries of the returned extent; until then its first
/// and last pages may still map to it with class 0, as they did while it
/// was free (no entry is cleared only to be written again: every caller
/// writes the first page's entry, and the last page's for large runs, all
/// pages' for slabs).
func arenaAllocPages(_ a: UnsafeMutablePointer<Arena>, pages: UInt, alignPages: UInt) -> UnsafeMutablePointer<Extent>? {
  let need = pages &+ alignPages &- 1
  if need > chunkUsablePages { return nil }
  // Empty slabs kept for new slabs of their size are free pages for
  // everything else (LargeAndSlabs.swift, SlabPool).
  if a.pointee.slabPool.pages != 0 { slabPoolEmpty(a) }
  var found = a.pointee.freeExtents.bestFit(pages: need)
  if found == nil {
    if arenaAddChunk(a) { found = a.pointee.freeExtents.bestFit(pages: need) }
  }
  guard let e = found else { return nil }
  // Records for the run carved from the extent's front (carvePages), or
  // for a possible tail and (aligned runs only) head split, reserved
  // before anything changes, so a failure leaves the free extents as they
  // were (a chunk just added stays free). Taken after a new chunk's
  // record: new ones are cut from base memory behind it (chunkMetaCreate).
  guard let tail = arenaNewRecord(a) else { return nil }
  var head: UnsafeMutablePointer<Extent>? = nil
  if alignPages > 1 {
    guard let h = arenaNewRecord(a) else { arenaRecycleRecord(a, tail); return nil }
    head = h
  }
  if e.pointee.pages == chunkUsablePages { a.pointee.emptyChunkCount &-= 1 }
  if head == nil && e.pointee.pages > pages { return carvePages(a, from: e, pages: pages, into: tail) }
  a.pointee.freeExtents.remove(e)
  decayUntrack(a, e)
  let meta = chunkMeta(e.pointee.address)
  let map = meta.pageMap
  // The run's exact page counts, less those of a head split off below.
  var dirty = UInt(e.pointee.dirtyPages)
  var muzzy = UInt(e.pointee.muzzyPages)
  if let head {
    let alignBytes = alignPages << pageShift
    let alignedStart = (e.pointee.address &+ alignBytes &- 1) & ~(alignBytes &- 1)
    let leadPages = (alignedStart &- e.pointee.address) >> pageShift
    if leadPages != 0 {
      // The old last page's entry is rewritten below (tail) or by the caller.
      head.pointee.address = e.pointee.address
      head.pointee.pages = leadPages
      extentCountStates(head)
      dirty &-= UInt(head.pointee.dirtyPages)
      muzzy &-= UInt(head.pointee.muzzyPages)
      fileFreeExtent(a, head, map: map)
      e.pointee.address = alignedStart
      e.pointee.pages &-= leadPages
    } else {
      arenaRecycleRecord(a, head)
    }
  }
  let taken = pageStateTake(meta, first: pageIndexInChunk(e.pointee.address), count: pages)
  if e.pointee.pages > pages {
    // The tail's counts are the run's less the pages taken: no pass over
    // its bitmap words (up to a chunk's).
    tail.pointee.address = e.pointee.address &+ (pages << pageShift)
    tail.pointee.pages = e.pointee.pages &- pages
    tail.pointee.dirtyPages = UInt32(truncatingIfNeeded: dirty &- taken.dirty)
    tail.pointee.muzzyPages = UInt32(truncatingIfNeeded: muzzy &- taken.muzzy)
    fileFreeExtent(a, tail, map: map)
    e.pointee.pages = pages
  } else {
    arenaRecycleRecord(a, tail)
  }
  e.pointee.contents = taken.dirty == 0 && taken.muzzy == 0 ? .zeroed : .dirty
  e.pointee.dirtyPages = 0
  e.pointee.muzzyPages = 0
  decayTickAfterTaking(a)
  makeRoom(a, forPages: pages &- taken.dirty &- taken.muzzy)
  return e
}

/// Arena `a` took `fresh` pages it did not hold resident (never touched, or
/// purged): where that takes what may be resident past its high-water mark
/// (residentTake), the huge cache gives back as many of its mappings'
/// pages as go past it (hugeCacheMakeRoom), and the arena as many of its
/// stale dirty pages (decayMakeRoom), so growing into new pages does not
/// raise the peak while memory nobody reuses stays. Below the mark nothing
/// is purged: decay's timer returns those pages.
@inline(__always)
private func makeRoom(_ a: UnsafeMutablePointer<Arena>, forPages fresh: UInt) {
  let excess = residentTake(a, fresh)
  if excess == 0 { return }
  hugeCacheMakeRoom(forPages: excess)
  decayMakeRoom(a, forPages: excess)
  residentSettle()
}

/// arenaAllocPages's common case: the first `pages` pages of free extent
/// `e`, which has more, become run `run` (a fresh record), and `e` keeps the
/// rest where it is: in its bucket unless its new size belongs in another,
/// and in its place in its decay list, which is the age of those pages.
/// Splitting `e` into a taken run and a tail record filed anew cost a bucket
/// removal and insertion, and a decay list removal and append (which also
/// made the old tail look freed just now) per slab: bench burst makes one
/// per 21 blocks: `wl burst 1 0.2` 416.4M -> 412.3M instructions, the
/// other workloads 0.01-0.5% fewer.
@inline(__always)
private func carvePages(_ a: UnsafeMutablePointer<Arena>, from e: UnsafeMutablePointer<Extent>, pages: UInt,
                        into run: UnsafeMutablePointer<Extent>) -> UnsafeMutablePointer<Extent> {
  let meta = chunkMeta(e.pointee.address)
  let map = meta.pageMap
  let taken = pageStateTake(meta, first: pageIndexInChunk(e.pointee.address), count: pages)
  run.pointee.address = e.pointee.address
  run.pointee.pages = pages
  run.pointee.contents = taken.dirty == 0 && taken.muzzy == 0 ? .zeroed : .dirty
  let oldPages = e.pointee.pages
  e.pointee.address &+= pages << pageShift
  e.pointee.pages = oldPages &- pages
  a.pointee.freeExtents.resized(e, from: oldPages)
  e.pointee.dirtyPages &-= UInt32(truncatingIfNeeded: taken.dirty)
  e.pointee.muzzyPages &-= UInt32(truncatingIfNeeded: taken.muzzy)
  decayLeftFront(a, e, dirty: taken.dirty, muzzy: taken.muzzy)
  // The run's first page maps to the run until the caller maps its pages
  // (as a split run's did); `e`'s new first page maps to `e`.
  storeMarkerEntry(map, Int(pageIndexInChunk(run.pointee.address)), makePageEntry(run, classPlusOne: 0))
  markFreeBoundaries(e, map: map)
  invariant(pageStateCount(e.pointee.address, pages: e.pointee.pages)
              == (UInt(e.pointee.dirtyPages), UInt(e.pointee.muzzyPages)),
            "a carved free extent's page counts disagree with its chunk's page states")
  decayTickAfterTaking(a)
  makeRoom(a, forPages: pages &- taken.dirty &- taken.muzzy)
  return run
}

/// Coalescing: takes free neighbour `n` out of the store and its decay list,
/// adds its pages (and their dirty / muzzy counts) to `e`, and recycles its
/// record. The caller has moved `e`'s start when `n` lies before it. Its
/// boundary entries in `map` are cleared (the merged run's are written
/// after).
@inline(__always)
private func absorbFreeNeighbour(_ a: UnsafeMutablePointer<Arena>, _ e: UnsafeMutablePointer<Extent>,
                                 _ n: UnsafeMutablePointer<Extent>, map: UnsafeMutablePointer<UInt>,
                                 dirty: inout UInt, muzzy: inout UInt) {
  a.pointee.freeExtents.remove(n)
  decayUntrack(a, n)
  dirty &+= UInt(n.pointee.dirtyPages)
  muzzy &+= UInt(n.pointee.muzzyPages)
  clearBoundaries(n, map: map)
  e.pointee.pages &+= n.pointee.pages
  arenaRecycleRecord(a, n)
}

/// Returns an extent's pages to the free store, coalescing with free
/// neighbours; a chunk that becomes entirely free is unmapped when the arena
/// already keeps `retainedEmptyChunks` empty chunks in reserve. `tick:
/// false` leaves the decay tick to the caller, which frees more runs under
/// the same lock and ticks once after the last (arenaFreeLargeBatch: the
/// dirty pages only grow meanwhile, so that tick sees the batch's peak).
/// `purged: true`: the caller gave the run's pages back to the kernel
/// (MADV_DONTNEED) before freeing it, so they come back zeroed, not dirty
/// (arenaFreeLargePurged).
func arenaFreePages(_ a: UnsafeMutablePointer<Arena>, _ e: UnsafeMutablePointer<Extent>, tick: Bool = true,
                    purged: Bool = false) {
  invariant(e.pointee.state != .free, "a free extent freed again")
  // (nil: a page run taken straight from arenaAllocPages, as the unit tests
  // do, has no page-map entries yet.)
  invariant(pageEntryExtent(pageEntry(e.pointee.address)).map { $0 == e } ?? true,
            "an extent's first page maps to another extent")
  // One radix lookup for the whole run: an extent never crosses its chunk.
  let chunk = e.pointee.address & ~chunkMask
  let meta = chunkMeta(chunk)
  let map = meta.pageMap
  let firstPage = pageIndexInChunk(e.pointee.address)
  let freedPages = e.pointee.pages
  if e.pointee.state == .slab {
    var i = Int(firstPage)
    let end = i &+ Int(freedPages)
    while i < end { storePageEntry(map, i, 0); i &+= 1 }
  } else {
    // A large run: its first page loses its class.
    storePageEntry(map, Int(firstPage), 0)
    storeMarkerEntry(map, Int(firstPage &+ freedPages) &- 1, 0)
  }
  e.pointee.state = .free
  var dirty: UInt = 0
  if purged {
    a.pointee.dirty.purged &+= freedPages
  } else {
    pageStateFree(meta, first: firstPage, count: freedPages)
    dirty = freedPages
  }
  var muzzy: UInt = 0
  if firstPage > 0, let left = pageEntryExtent(neighbourEntry(map, Int(firstPage) &- 1)), left.pointee.state == .free {
    e.pointee.address = left.pointee.address
    absorbFreeNeighbour(a, e, left, map: map, dirty: &dirty, muzzy: &muzzy)
  }
  let endPage = firstPage &+ freedPages
  if endPage < config.pagesPerChunk, let right = pageEntryExtent(neighbourEntry(map, Int(endPage))),
     right.pointee.state == .free {
    absorbFreeNeighbour(a, e, right, map: map, dirty: &dirty, muzzy: &muzzy)
  }
  if e.pointee.pages == chunkUsablePages {
    if a.pointee.emptyChunkCount >= retainedEmptyChunks {
      // Keep a few empty chunks per arena to absorb alloc/free cycles
      // (decay purges their pages; the address space stays); unmap the rest.
      arenaRecycleRecord(a, e)
      _ = pageMapSet(chunk, 0)
      chunkMetaRecycle(meta)
      unmapPages(UnsafeMutableRawPointer(bitPattern: chunk).unsafelyUnwrapped, chunkSize)
      residentChange(a, removing: dirty &+ muzzy)
      a.pointee.chunkCount &-= 1
      return
    }
    a.pointee.emptyChunkCount &+= 1
  }
  e.pointee.dirtyPages = UInt32(truncatingIfNeeded: dirty)
  e.pointee.muzzyPages = UInt32(truncatingIfNeeded: muzzy)
  fileFreeExtent(a, e, map: map)
  if tick { decayTick(a) }
}

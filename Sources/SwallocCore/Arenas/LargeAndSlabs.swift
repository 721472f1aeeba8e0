// What arenas make of page runs: large blocks (a run per block, resized in
// place when the neighbouring pages are free) and slabs for the bins.

import CSwallocPlatform

// MARK: Large allocations

/// The smallest large class: the first class that is not small.
@inline(__always) var largeMinClass: UInt { sizeClassSize(config.smallClassCount) }

/// Allocates a large run of class `sizeClass`, `bytes` long (whole pages:
/// largeRunBytes), aligned to `alignment` bytes.
func arenaAllocLarge(_ a: UnsafeMutablePointer<Arena>, sizeClass: Int, bytes usize: UInt, alignment: UInt,
                     zero: Bool) -> UnsafeMutableRawPointer? {
  invariant(usize & pageMask == 0 && usize != 0 && usize <= bootedClassSize(sizeClass),
            "a large run's bytes are not whole pages of its class")
  let pages = usize >> pageShift
  let alignPages = alignment > pageSize ? alignment >> pageShift : 1
  let taken: (extent: UnsafeMutablePointer<Extent>, wasZeroed: Bool)? = withLock(&a.pointee.extentLock) {
    let e: UnsafeMutablePointer<Extent>
    let wasZeroed: Bool
    if alignPages == 1, let cached = largeCacheTake(a, pages: pages) {
      // Its state and last-page marker are the run's still.
      e = cached
      wasZeroed = false
    } else {
      guard let fresh = arenaAllocPages(a, pages: pages, alignPages: alignPages) else { return nil }
      e = fresh
      e.pointee.state = .large
      // (A record that held a pooled slab keeps that list state: the
      // large-run cache and the double-free check read it.)
      e.pointee.slabList = .full
      wasZeroed = e.pointee.contents == .zeroed
      setPageEntry(e.end &- pageSize, makePageEntry(e, classPlusOne: 0))
    }
    let filed = largeRunClass(bytes: usize)
    e.pointee.sizeClass = UInt16(filed)
    setPageEntry(e.pointee.address, makePageEntry(e, classPlusOne: UInt(filed) &+ 1))
    a.pointee.largeBytes &+= usize
    statsAllocated(usize)
    a.pointee.largeCount &+= 1
    a.pointee.largeMallocs &+= 1
    return (e, wasZeroed)
  }
  guard let taken else { return nil }
  let p = UnsafeMutableRawPointer(bitPattern: taken.extent.pointee.address).unsafelyUnwrapped
  if zero && !taken.wasZeroed { memset(p, 0, Int(usize)) }
  return p
}

/// Frees the large run that starts at `address`, from a thread cache's
/// flush or not. Checked under the extent lock: a run no longer live there,
/// or not in the state the caller expects, is a double free (freed twice,
/// by one thread or by two at once), an address inside a run an invalid
/// pointer; both abort.
func arenaFreeLarge(_ a: UnsafeMutablePointer<Arena>, address: UInt, fromThreadCache: Bool) {
  withLock(&a.pointee.extentLock) { arenaFreeLargeLocked(a, address: address, fromThreadCache: fromThreadCache) }
}

/// Frees `count` large runs a thread cache flushes (each with
/// arenaFreeLarge's checks): one extent-lock acquisition and one decay tick
/// per run of consecutive items of one arena, instead of one per item.
/// (Bench aligned, server-churn, leak-grow: 0.2-0.5% fewer instructions.)
func arenaFreeLargeBatch(_ items: UnsafeMutablePointer<UnsafeMutableRawPointer?>, count: Int) {
  var i = 0
  while i < count {
    let a = chunkArena(UInt(bitPattern: items[i]))
    mutexLock(&a.pointee.extentLock)
    repeat {
      arenaFreeLargeLocked(a, address: UInt(bitPattern: items[i]), fromThreadCache: true, tick: false)
      i &+= 1
    } while i < count && chunkArena(UInt(bitPattern: items[i])) == a
    decayTick(a)
    mutexUnlock(&a.pointee.extentLock)
  }
}

/// Frees a live large run (not in a thread cache) whose contents its owner
/// no longer needs, as realloc's old block once copied, with its pages
/// handed back to the kernel first: they join the free pages zeroed
/// instead of dirty. False, with nothing done, when madvise fails.
///
/// Why: a block grown by realloc through the large classes moves whenever
/// the pages after it are taken, and each old block stayed resident, dirty,
/// until decay purged it (10 s by default) or a later allocation reused
/// it. sqlite3's CREATE INDEX grows its sorter array by doubling from 32
/// KiB to 2 MiB; glibc grows it in place or with mremap and returns the old
/// pages at once. Bench sqlite3: peak RSS 27.1 -> 26.2 MiB (5 runs each),
/// realloc-grow 7.7 -> 7.6 MiB; times within noise (realloc-grow CPU 297
/// against 302 ms, medians of 15; 10 madvise calls in the whole run). A
/// purged run that is taken again faults its pages in again, which is why
/// plain frees keep theirs dirty (purging every freed run of 1 MiB or more
/// slowed bench large by a quarter).
func arenaFreeLargePurged(_ a: UnsafeMutablePointer<Arena>, address: UInt, bytes: UInt) -> Bool {
  let saved = swalloc_errno()
  if madvise(UnsafeMutableRawPointer(bitPattern: address), Int(bytes), MADV_DONTNEED) != 0 {
    swalloc_set_errno(saved)
    return false
  }
  withLock(&a.pointee.extentLock) {
    residentChange(a, removing: bytes >> pageShift)
    arenaFreeLargeLocked(a, address: address, fromThreadCache: false, purged: true)
  }
  return true
}

/// arenaFreeLarge's work; the arena's extent lock held.
private func arenaFreeLargeLocked(_ a: UnsafeMutablePointer<Arena>, address: UInt, fromThreadCache: Bool,
                                  tick: Bool = true, purged: Bool = false) {
  let entry = pageEntry(address)
  guard entry >> pageEntryClassShift != 0, let e = pageEntryExtent(entry), e.pointee.state == .large,
        e.pointee.slabList != .pooled, (entry & pageEntryCachedBit != 0) == fromThreadCache else {
    fatal("free(): double free detected (a large block was freed twice)")
  }
  // (arenaFreePages clears the entry, cached bit and all.)
  if e.pointee.address != address { fatal("free(): invalid pointer (not the start of an allocated block)") }
  a.pointee.largeBytes &-= e.pointee.pages << pageShift
  statsDeallocated(e.pointee.pages << pageShift)
  a.pointee.largeCount &-= 1
  a.pointee.largeFrees &+= 1
  if !purged && largeCachePut(a, e, entry: entry) {
    if tick { decayTick(a) }
    return
  }
  arenaFreePages(a, e, tick: tick, purged: purged)
}

/// Resizes a large run in place to class `newClass`, `bytes` long (whole
/// pages: largeRunBytes), when the pages after it are free (grow) or by
/// giving back its tail (shrink). Returns success.
func arenaResizeLargeInPlace(_ a: UnsafeMutablePointer<Arena>, _ e: UnsafeMutablePointer<Extent>, newClass: Int,
                             bytes: UInt) -> Bool {
  invariant(bytes & pageMask == 0 && bytes != 0 && bytes <= bootedClassSize(newClass),
            "a large run's bytes are not whole pages of its class")
  let newPages = bytes >> pageShift
  return withLock(&a.pointee.extentLock) {
    let oldPages = e.pointee.pages
    if newPages == oldPages { return true }
    let chunk = e.pointee.address & ~chunkMask
    if newPages > oldPages {
      // A pooled slab may be the neighbour the run grows into.
      if a.pointee.slabPool.pages != 0 { slabPoolEmpty(a) }
      let end = e.end
      guard end < chunk &+ chunkSize,
            let right = pageEntryExtent(neighbourEntry(chunkMeta(end).pageMap, Int(pageIndexInChunk(end)))),
            right.pointee.state == .free, right.pointee.pages >= newPages &- oldPages else { return false }
      let extra = newPages &- oldPages
      a.pointee.freeExtents.remove(right)
      decayUntrack(a, right)
      clearBoundaries(right)
      let taken = pageStateTake(chunkMeta(end), first: pageIndexInChunk(end), count: extra)
      let excess = residentTake(a, extra &- taken.dirty &- taken.muzzy)
      if excess != 0 {
        hugeCacheMakeRoom(forPages: excess)
        residentSettle()
      }
      if right.pointee.pages > extra {
        right.pointee.address &+= extra << pageShift
        right.pointee.pages &-= extra
        extentCountStates(right)
        a.pointee.freeExtents.insert(right)
        markFreeBoundaries(right)
        decayTrack(a, right)
      } else {
        arenaRecycleRecord(a, right)
      }
      // The old last page is now interior: interior entries stay zero.
      setPageEntry(end &- pageSize, 0)
      e.pointee.pages = newPages
      setPageEntry(e.end &- pageSize, makePageEntry(e, classPlusOne: 0))
    } else {
      guard let tail = arenaNewRecord(a) else { return false }
      tail.pointee.address = e.pointee.address &+ (newPages << pageShift)
      tail.pointee.pages = oldPages &- newPages
      tail.pointee.state = .large
      setPageEntry(e.end &- pageSize, 0)
      e.pointee.pages = newPages
      // e's new last page must be marked before the tail looks left to coalesce.
      setPageEntry(e.end &- pageSize, makePageEntry(e, classPlusOne: 0))
      setPageEntry(tail.pointee.address, makePageEntry(tail, classPlusOne: 0))
      setPageEntry(tail.end &- pageSize, makePageEntry(tail, classPlusOne: 0))
      arenaFreePages(a, tail)  // coalesces with whatever follows
    }
    a.pointee.largeBytes = a.pointee.largeBytes &- (oldPages << pageShift) &+ (newPages << pageShift)
    if newPages > oldPages { statsAllocated((newPages &- oldPages) << pageShift) }
    else { statsDeallocated((oldPages &- newPages) << pageShift) }
    let filed = largeRunClass(bytes: bytes)
    e.pointee.sizeClass = UInt16(filed)
    setPageEntry(e.pointee.address, makePageEntry(e, classPlusOne: UInt(filed) &+ 1))
    return true
  }
}

// MARK: Slabs

/// Takes pages for a fresh slab of small class `sizeClass`; every page maps
/// back to the slab so any region can be freed.
func arenaAllocSlab(_ a: UnsafeMutablePointer<Arena>, sizeClass: Int) -> UnsafeMutablePointer<Extent>? {
  let info = config.binInfos[sizeClass]
  let slab: UnsafeMutablePointer<Extent>? = withLock(&a.pointee.extentLock) {
    guard let e = slabPoolTake(a, pages: UInt(info.slabPages))
                  ?? (a.pointee.slabPool.pages != 0 ? slabPoolSplit(a, sizeClass: sizeClass) : nil)
                  ?? arenaAllocPages(a, pages: UInt(info.slabPages), alignPages: 1) else { return nil }
    slabMapPages(e, sizeClass: sizeClass, info: info)
    e.pointee.slabList = .full
    return e
  }
  guard let e = slab else { return nil }
  e.bitmap.setAll()
  return e
}

/// Makes extent `e` (its address and pages set) a slab of `sizeClass` with
/// every region free, but for its bitmap (the caller's): state, class and
/// free count in its record, and every page's page-map entry. Extent lock
/// held.
@inline(__always)
private func slabMapPages(_ e: UnsafeMutablePointer<Extent>, sizeClass: Int, info: BinInfo) {
  e.pointee.state = .slab
  e.pointee.sizeClass = UInt16(sizeClass)
  e.pointee.freeRegions = UInt16(truncatingIfNeeded: info.regionCount)
  let entry = makePageEntry(e, classPlusOne: UInt(sizeClass) &+ 1)
  // One radix lookup for all the slab's pages (they share a chunk); each
  // entry carries its page's index in the slab (Chunk.swift).
  invariant(UInt(bitPattern: e) & 63 == 0 && e.pointee.pages <= 64, "a slab's entries cannot carry its page indices")
  let map = chunkMeta(e.pointee.address).pageMap
  let first = Int(pageIndexInChunk(e.pointee.address))
  var i = first
  let end = i &+ Int(e.pointee.pages)
  while i < end { storePageEntry(map, i, entry | UInt(i &- first)); i &+= 1 }
}

func arenaFreeSlab(_ a: UnsafeMutablePointer<Arena>, _ e: UnsafeMutablePointer<Extent>) {
  invariant(UInt32(e.pointee.freeRegions) == config.binInfos[Int(e.pointee.sizeClass)].regionCount,
            "a slab went back to its arena with regions in use")
  withLock(&a.pointee.extentLock) {
    if !slabPoolPut(a, e) { arenaFreePages(a, e) }
  }
}

// MARK: The slab pool

/// Empty slabs an arena holds on to between a bin giving one back (beyond
/// its own spares, Bin.swift) and the next new slab of any class with as
/// many pages: a slab's pages change class without going through the free
/// extents (a bucket search and split to take them, the neighbour lookups,
/// coalescing, boundary markers, page-state bits and a decay tick to give
/// them back: ~680 instructions a slab, measured below). jemalloc keeps
/// empty small-extent runs in a cache in front of its page allocator for
/// the same reason (its SEC).
///
/// What it holds is bounded, and its pages reach decay's free extents
/// soon after the arena stops cycling slabs:
/// - at most slabPoolBudgetPages pages;
/// - until the arena's pages are wanted for anything else: a new slab with
///   no pooled slab of its page count or of twice it (slabPoolSplit), a
///   large run (the pool is emptied into the free extents first, so no
///   free page is kept from another use: keeping them made bench burst map
///   fresh pages, peak RSS 6.9 -> 10.4 MiB);
/// - until a look finds that no new slab took one since the previous look
///   (runCachesTrim: the thread caches' collector, once per pass over its
///   classes and at its idle pass; the background thread and
///   arena.<i>.decay before each decay step), as a bin's spares;
/// - emptied by purges (malloc_trim, arena.<i>.purge), and never used with
///   dirty_decay_ms:0, which gives freed pages back at once (setting
///   arena.<i>.dirty_decay_ms to 0 empties it).
/// The statistics count its pages as dirty.
///
/// Measured (callgrind, instructions; peak RSS median of 3): `wl burst 1
/// 0.1` 206.7M -> 197.9M, `wl xmalloc 2 0.2` 122.8M -> 118.4M; larson,
/// mixed-threads, server-churn, mixed-lifetime, aligned, leak-grow within
/// 0.3%; `wl burst 1 1` peak RSS 6.7-6.9 MiB both. Guarded by the arena's
/// extentLock.
struct SlabPool {
  /// Pooled slabs of i + 1 pages (i < maxSlabPages), linked through their
  /// records' `next`.
  var heads = InlineArray<16, UnsafeMutablePointer<Extent>?>(repeating: nil)
  /// Pages of all of them.
  var pages: UInt = 0
  /// A new slab came from the pool since the last runCachesTrim.
  var taken = false
}

/// Most pages an arena's slab pool holds: one burst of a few thousand
/// blocks of up to 1 KiB. (A first version, not emptied on a miss, with
/// the RSS cost above: bench burst 205.2M instructions with 64 pages,
/// 199.3M with 256, 185.2M with 1024, against 206.7M without a pool.)
let slabPoolBudgetPages: UInt = 1024

/// A pooled slab of `pages` pages for a new slab (its record as the bin left
/// it: the caller sets class, counts and page-map entries); nil when there
/// is none (arenaAllocPages then empties the pool before it looks for
/// pages). Extent lock held.
@inline(__always)
func slabPoolTake(_ a: UnsafeMutablePointer<Arena>, pages: UInt) -> UnsafeMutablePointer<Extent>? {
  if a.pointee.slabPool.pages == 0 { return nil }
  invariant(pages >= 1 && pages <= UInt(a.pointee.slabPool.heads.count), "a slab size outside the slab pool")
  let i = Int(pages &- 1)
  guard let e = a.pointee.slabPool.heads[i] else { return nil }
  invariant(e.pointee.slabList == .pooled && e.pointee.pages == pages, "a slab pool entry of another size")
  a.pointee.slabPool.heads[i] = e.pointee.next
  a.pointee.slabPool.pages &-= pages
  a.pointee.slabPool.taken = true
  e.pointee.next = nil
  // Its pages were written by the blocks it held: calloc must clear them.
  e.pointee.contents = .dirty
  return e
}

/// A pooled slab of twice `sizeClass`'s page count cut in two, when the
/// pool has none of its own count: the first half for the new slab (its
/// record as slabPoolTake leaves it), the second back in the pool as an
/// empty slab of `sizeClass` (its record, bitmap and page-map entries those
/// of a slab of that class whose regions are all free, so a stale free
/// into it aborts as in any pooled slab). nil when there is no such slab,
/// or no record for the second half (the pool as it was). Extent lock
/// held.
///
/// Why: the classes up to 1 KiB have slabs of 1, 2 and 4 pages (the
/// smaller ones pin less memory where a thread cache keeps a few regions
/// of many slabs), and a new slab the pool could not serve by its page
/// count emptied the whole pool into the free extents, each new slab then
/// carved from them (about 550 instructions, against about 250 from the
/// pool). Bench burst (bursts of one class from 16 B to 1 KiB), `wl burst
/// 1 0.2`: 320.4M -> 311.3M instructions, the other workloads within
/// 0.3%; peak RSS 6119 -> 6195 KiB (means of 15 runs). Cutting any pooled
/// slab the page count divides (a 4-page one in four for a 1-page slab)
/// saved more, 320.4M -> 304.6M (0.157 -> 0.136 s, medians of 15
/// interleaved runs), but cost burst's peak RSS 6.10 -> 6.48 MiB: 1-page
/// slabs still in use scattered over the pages of former 4-page ones keep
/// the next big burst's 4-page slabs from them. Under load (two busy
/// loops) both builds took the same CPU time on burst (0.147 s against
/// 0.148). Giving the classes from 64 B to 256 B 4-page slabs instead (one
/// page count for every class to 1 KiB) saved as many instructions, but a
/// thread cache's last few regions of each class then pin 16 KiB slabs:
/// tests/memtruth's idle row (1 GiB freed, an idle thread's caches kept)
/// 14.5 -> 16.0 MiB left resident.
@inline(never)
func slabPoolSplit(_ a: UnsafeMutablePointer<Arena>, sizeClass: Int) -> UnsafeMutablePointer<Extent>? {
  let info = config.binInfos[sizeClass]
  let pages = UInt(info.slabPages)
  let whole = pages &* 2
  if whole > UInt(a.pointee.slabPool.heads.count) || a.pointee.slabPool.heads[Int(whole &- 1)] == nil { return nil }
  // The second half's record, taken before anything changes.
  guard let piece = arenaNewRecord(a) else { return nil }
  guard let e = slabPoolTake(a, pages: whole) else { arenaRecycleRecord(a, piece); return nil }
  e.pointee.pages = pages
  piece.pointee.address = e.pointee.address &+ (pages << pageShift)
  piece.pointee.pages = pages
  slabMapPages(piece, sizeClass: sizeClass, info: info)
  piece.bitmap.setAll()
  // It fits: the pool gave up twice its pages.
  if !slabPoolPut(a, piece) { arenaFreePages(a, piece, tick: false) }
  return e
}

/// Keeps empty slab `e`, which left its bin, in the pool if there is room;
/// false when it must go back to the free extents. Extent lock held.
@inline(__always)
func slabPoolPut(_ a: UnsafeMutablePointer<Arena>, _ e: UnsafeMutablePointer<Extent>) -> Bool {
  let pages = e.pointee.pages
  if a.pointee.dirtyDecayMs == 0 || a.pointee.slabPool.pages &+ pages > slabPoolBudgetPages { return false }
  invariant(e.pointee.state == .slab && pages >= 1 && pages <= UInt(a.pointee.slabPool.heads.count),
            "a slab pool entry that is not a slab")
  let i = Int(pages &- 1)
  e.pointee.slabList = .pooled
  e.pointee.next = a.pointee.slabPool.heads[i]
  a.pointee.slabPool.heads[i] = e
  a.pointee.slabPool.pages &+= pages
  return true
}

/// The periodic look at the arena's caches of empty page runs, the slab
/// pool (SlabPool) and the large-run cache (LargeRunCache): empties each
/// unless a new slab or run came from it since the previous look; returns
/// whether either was emptied (the caller ticks decay). Extent lock held.
@discardableResult
func runCachesTrim(_ a: UnsafeMutablePointer<Arena>) -> Bool {
  let unused = !a.pointee.slabPool.taken && a.pointee.slabPool.pages != 0
  if unused { slabPoolEmpty(a) }
  a.pointee.slabPool.taken = false
  let unusedRuns = !a.pointee.largeCache.taken && a.pointee.largeCache.pages != 0
  if unusedRuns { largeCacheEmpty(a) }
  a.pointee.largeCache.taken = false
  return unused || unusedRuns
}

/// Empties both caches of empty page runs into the free extents, whether
/// used or not (purges; dirty_decay_ms:0, under which neither is used).
/// Extent lock held; the caller ticks decay.
@inline(__always)
func runCachesEmpty(_ a: UnsafeMutablePointer<Arena>) {
  slabPoolEmpty(a)
  largeCacheEmpty(a)
}

/// runCachesTrim for the thread caches' collector, which holds no lock.
func arenaTrimRunCaches(_ a: UnsafeMutablePointer<Arena>) {
  withLock(&a.pointee.extentLock) {
    if runCachesTrim(a) { decayTick(a) }
  }
}

/// Gives every pooled slab back to the free extents: before any other use
/// of the arena's free pages (arenaAllocPages, a large run grown in place),
/// at a purge, at a look that finds the pool unused. Extent lock held; the
/// caller ticks decay. Never while a run the caller holds is still marked
/// free (a pooled neighbour would coalesce with it).
///
/// A list's slabs mostly lie side by side in the order they were emptied
/// (a burst's slabs are carved one after the other from one free extent,
/// and empty in or against that order), so each run of address-adjacent
/// slabs in a list goes back as one extent: one coalescing free instead of
/// one per slab, whose neighbour lookups, bucket and decay-list moves were
/// each undone by the next slab's. Bench burst (`wl burst 1 0.2`,
/// callgrind): 72.7K pooled slabs went back in 40.2K frees instead of
/// 72.7K, the empties cost 13.4M instructions instead of 19.8M, the run
/// 384.4M instead of 391.0M. (Runs are shorter than a burst: the bins'
/// spares and the flushes' order leave gaps.)
@inline(never)
func slabPoolEmpty(_ a: UnsafeMutablePointer<Arena>) {
  var i = 0
  while i < a.pointee.slabPool.heads.count {
    // The run being gathered: its lowest slab's record, which becomes the
    // run's, and the records of the others (linked through `next`),
    // recycled once the run is free and its page-map entries cleared.
    var run: UnsafeMutablePointer<Extent>? = nil
    var absorbed: UnsafeMutablePointer<Extent>? = nil
    while let e = a.pointee.slabPool.heads[i] {
      a.pointee.slabPool.heads[i] = e.pointee.next
      e.pointee.next = nil
      if let r = run, let merged = slabPoolJoin(r, e) {
        let other = merged == r ? e : r
        other.pointee.next = absorbed
        absorbed = other
        run = merged
        continue
      }
      if let r = run { slabPoolFreeRun(a, r, absorbed: absorbed) }
      run = e
      absorbed = nil
    }
    if let r = run { slabPoolFreeRun(a, r, absorbed: absorbed) }
    i &+= 1
  }
  a.pointee.slabPool.pages = 0
}

/// Pooled slab `e` joins run `r` (a pooled slab, or several joined) when
/// it lies right before or after it in the same chunk (an extent never
/// crosses its chunk); returns the record of the joined run (the lower
/// one's, which its first page maps to), nil when they are not adjacent.
@inline(__always)
private func slabPoolJoin(_ r: UnsafeMutablePointer<Extent>,
                          _ e: UnsafeMutablePointer<Extent>) -> UnsafeMutablePointer<Extent>? {
  let rStart = r.pointee.address, eStart = e.pointee.address
  if rStart & ~chunkMask != eStart & ~chunkMask { return nil }
  if r.end == eStart {
    r.pointee.pages &+= e.pointee.pages
    return r
  }
  if e.end == rStart {
    e.pointee.pages &+= r.pointee.pages
    return e
  }
  return nil
}

/// Frees a run of joined pooled slabs as one slab extent (arenaFreePages
/// clears the page-map entries of all its pages), then recycles the
/// records of the slabs it absorbed, which those entries pointed at.
private func slabPoolFreeRun(_ a: UnsafeMutablePointer<Arena>, _ run: UnsafeMutablePointer<Extent>,
                             absorbed: UnsafeMutablePointer<Extent>?) {
  arenaFreePages(a, run, tick: false)
  var r = absorbed
  while let x = r {
    r = x.pointee.next
    arenaRecycleRecord(a, x)
  }
}

// MARK: The large-run cache

/// Freed large runs of up to largeCacheMaxPages pages that an arena keeps,
/// one LIFO list per page count (one per large class), for the next large
/// allocation of their class, which gets the same pages back.
///
/// Why: a run given back to the free extents coalesces with its free
/// neighbours and is carved again at another offset, so a program that
/// keeps replacing blocks of a few KiB to 64 KiB is handed ever new
/// addresses, and the lines it touches first in each block (its header,
/// its end) are in no cache. Bench aligned, restricted to its 16-32 KiB
/// blocks: 11,888 distinct block addresses against tcmalloc's 2,385 (whose
/// blocks of a class stay in their spans), 596K distinct lines touched
/// against 171K. jemalloc delays the coalescing of its dirty extents for
/// the same reason. With the cache: 4,359 addresses, 298K lines; `wl
/// aligned 1 1` (9 interleaved runs, medians) 0.0628 -> 0.0591 s and peak
/// RSS 18.4 -> 14.5 MiB (the runs no longer fragment the free extents);
/// server-churn (blocks up to 64 KiB handed between two threads) 0.070 ->
/// 0.065 s but peak RSS 16.2 -> 17.1 MiB: what the cache holds while other
/// sizes are carved. The whole bench, both builds in one 5-repetition run
/// (bench/run.py --baseline): aligned 0.064 -> 0.062 s and 17.9 -> 14.0
/// MiB, server-churn 0.070 -> 0.064 s and 16.1 -> 16.7 MiB, the other
/// workloads within their noise, the geomeans within 1%. (A trial build
/// that emptied it on every other page allocation of the arena, as the
/// slab pool is, lost all of it: aligned's addresses 11,782; its classes'
/// refills and misses come in between. One of 1 MiB: aligned 16.5 MiB.)
///
/// Bounded: at most largeCacheBudget(a) pages; emptied when a look finds
/// no run came from it since the previous look (runCachesTrim, with the
/// slab pool), by purges and dirty_decay_ms:0, and not used with
/// dirty_decay_ms:0, under secure:true (which reuses nothing early) or for
/// a run the heap profiler sampled. A cached run keeps its record, state
/// and page-map entries, with its first page's cached bit set: a free of
/// it, from the program or a thread cache's flush, aborts as a double free
/// (arenaFreeLargeLocked, freeLargeToCache), and realloc and
/// malloc_usable_size reject it (lookupAllocation). The statistics count
/// its pages as dirty. Guarded by the arena's extentLock.
struct LargeRunCache {
  /// Cached runs of i + 1 pages, linked through their records' `next`.
  var heads = InlineArray<16, UnsafeMutablePointer<Extent>?>(repeating: nil)
  /// Pages of all of them.
  var pages: UInt = 0
  /// A run came from the cache since the last runCachesTrim.
  var taken = false
}

/// The longest run the cache keeps: 64 KiB, tcache_max's default.
let largeCacheMaxPages: UInt = 16
/// Pages an arena's large-run cache may always hold: 2 MiB (see above for
/// 1); more in an arena with more live large runs (largeCacheBudget).
let largeCacheBudgetPages: UInt = 512

/// Most pages arena `a`'s large-run cache holds: half the pages of its
/// live large runs, at least largeCacheBudgetPages. Why: the runs a
/// program replaces at random are a share of those it holds, and a fixed
/// 2 MiB served a small share of a big heap. Bench aligned (16-32 KiB
/// blocks among its 2048 slots, about 7 MiB of them live): the cache full
/// and each run beyond it coalesced and carved again elsewhere; with this
/// budget, `wl aligned 1 1` anonymous memory at exit 11980 -> 10992 KiB
/// and peak RSS 13.4 -> 12.4 MiB (9 interleaved runs; at scale 4, peak
/// RSS 17.4 -> 13.7 MiB, median time 0.244 -> 0.227 s, fastest 0.223 ->
/// 0.219 s), time the same at scale 1; server-churn (blocks up to 64 KiB
/// handed between two threads) 17.4 -> 17.6 MiB (medians of 21), its
/// time the same; leak-grow, large, realloc-grow, mixed-lifetime the same
/// peak. (A fixed 8 MiB did as much for aligned and cost server-churn
/// 0.3-5% in three sets of runs; giving cached runs back whenever a carve
/// would touch fresh pages lost most of aligned's gain.) Overhead stays
/// bounded by the program's own large heap, and the cache still empties
/// when a look finds it unused.
@inline(__always)
func largeCacheBudget(_ a: UnsafeMutablePointer<Arena>) -> UInt {
  max(largeCacheBudgetPages, a.pointee.largeBytes >> (pageShift &+ 1))
}

/// A cached run of `pages` pages for a new large run of that size, marked
/// live again but for its first page's entry (the caller writes it); nil
/// when there is none. Extent lock held.
@inline(__always)
func largeCacheTake(_ a: UnsafeMutablePointer<Arena>, pages: UInt) -> UnsafeMutablePointer<Extent>? {
  if a.pointee.largeCache.pages == 0 || pages > largeCacheMaxPages { return nil }
  let i = Int(pages &- 1)
  guard let e = a.pointee.largeCache.heads[i] else { return nil }
  invariant(e.pointee.state == .large && e.pointee.slabList == .pooled && e.pointee.pages == pages,
            "a large-run cache entry of another size")
  a.pointee.largeCache.heads[i] = e.pointee.next
  e.pointee.next = nil
  e.pointee.slabList = .full
  a.pointee.largeCache.pages &-= pages
  a.pointee.largeCache.taken = true
  // Its pages were written by the block it held: calloc must clear them.
  e.pointee.contents = .dirty
  return e
}

/// Keeps freed large run `e` (counted out of the arena's large blocks
/// already), whose first page's entry is `entry`, in the cache if it may;
/// false when it must go back to the free extents. Extent lock held.
@inline(__always)
func largeCachePut(_ a: UnsafeMutablePointer<Arena>, _ e: UnsafeMutablePointer<Extent>, entry: UInt) -> Bool {
  let pages = e.pointee.pages
  if pages > largeCacheMaxPages || a.pointee.dirtyDecayMs == 0 || config.opt.secure || e.pointee.sampled
     || a.pointee.largeCache.pages &+ pages > largeCacheBudget(a) {
    return false
  }
  setPageEntry(e.pointee.address, entry | pageEntryCachedBit)
  e.pointee.slabList = .pooled
  let i = Int(pages &- 1)
  e.pointee.next = a.pointee.largeCache.heads[i]
  a.pointee.largeCache.heads[i] = e
  a.pointee.largeCache.pages &+= pages
  return true
}

/// Gives every cached run back to the free extents (a look that finds the
/// cache unused, purges, dirty_decay_ms:0). Extent lock held; the caller
/// ticks decay.
func largeCacheEmpty(_ a: UnsafeMutablePointer<Arena>) {
  var i = 0
  while i < a.pointee.largeCache.heads.count {
    while let e = a.pointee.largeCache.heads[i] {
      a.pointee.largeCache.heads[i] = e.pointee.next
      e.pointee.next = nil
      e.pointee.slabList = .full
      // (arenaFreePages clears the first page's entry, cached bit and all.)
      arenaFreePages(a, e, tick: false)
    }
    i &+= 1
  }
  a.pointee.largeCache.pages = 0
}

// Arenas: independent heaps, each with its own chunks, free extents and
// bins, so threads bound to different arenas never contend. An arena's page
// runs (extents) are guarded by `extentLock`; each bin has its own lock and
// a bin lock is always taken before the extent lock.

import CSwallocPlatform
import Synchronization

struct Arena {
  // Field order matters to ThreadSanitizer (tests/sanitize.sh): it records a
  // Swift modify access through `arena.pointee` (arena.pointee.largeBytes +=,
  // arena.pointee.freeExtents.insert) as a write of the struct's first byte.
  // So the first field is one touched only under extentLock, like the
  // accesses themselves; the lock word and fields read without it (index,
  // bins) must not sit there, or every update would look like a race.
  var freeExtents: ExtentBuckets
  var extentLock = Mutex()
  var index: UInt32 = 0
  /// Recycled Extent records, linked through `next`.
  var recordCache: UnsafeMutablePointer<Extent>? = nil
  var bins: UnsafeMutablePointer<Bin>
  var chunkCount: UInt = 0
  var emptyChunkCount: UInt = 0
  var largeBytes: UInt = 0
  var largeCount: UInt = 0
  var largeMallocs: UInt = 0
  var largeFrees: UInt = 0
  /// Free extents whose pages are dirty / muzzy, and their decay (Decay.swift).
  var dirty: DecayStage
  var muzzy: DecayStage
  /// Muzzy pages in all free extents (also those on the dirty list, which
  /// muzzy.pages leaves out), for statistics.
  var muzzyPagesTotal: UInt = 0
  /// This arena's decay times (arena.<i>.dirty_decay_ms / muzzy_decay_ms),
  /// from arenas.dirty_decay_ms / muzzy_decay_ms when it was created.
  var dirtyDecayMs: Int
  var muzzyDecayMs: Int
  /// Destroyed by arena.<i>.destroy (guarded by arenasLock): empty, named
  /// by nothing, kept for the next arenas.create.
  var destroyed = false
}

/// All arenas (created lazily), the arena count and the lock guarding both.
/// Indices below `autoArenaCount` (narenas at boot) are the arenas threads
/// are bound to automatically; those from there up to `arenaCount` were made
/// by mallctl("arenas.create") and serve only the threads and MALLOCX_ARENA
/// calls that name them. The table has room for `arenaTableCapacity`.
let arenas = ArenaTable()
nonisolated(unsafe) var arenaCount = 1
nonisolated(unsafe) var autoArenaCount = 1
nonisolated(unsafe) var arenasLock = Mutex()
/// Threads that have bound to an arena so far (the background thread's
/// default rule reads it).
nonisolated(unsafe) var threadsBound: UInt32 = 0
/// Room for 256 arenas made by arenas.create beyond the automatic ones,
/// within jemalloc's limit (MALLOCX_ARENA carries 12 bits, 4096 means
/// "all"); set at boot. Kept small so the table shares the boot's pages.
nonisolated(unsafe) var arenaTableCapacity = 4095
let createdArenaLimit = 256
/// Decay times given to arenas created from now on (arenas.dirty_decay_ms,
/// arenas.muzzy_decay_ms; the options at boot). Guarded by arenasLock.
nonisolated(unsafe) var arenasDirtyDecayMs = 10_000
nonisolated(unsafe) var arenasMuzzyDecayMs = 0
/// Threads bound to each arena, by index (guarded by arenasLock). Kept out of
/// Arena itself so that no field of an arena is guarded by a lock other than
/// its own extentLock (and its bins' locks).
let arenaThreadCounts = ArenaThreadCounts()

/// One entry of the arena table: the arena and its bound threads side by
/// side, so the automatic arenas' entries share the table's first page
/// (the capacity above them is address space no one touches).
struct ArenaSlot {
  var arena: UnsafeMutablePointer<Arena>? = nil
  var threads = 0
}
/// The table, in base memory (set at boot).
nonisolated(unsafe) var arenaSlots: UnsafeMutablePointer<ArenaSlot> = UnsafeMutablePointer(bitPattern: 64)!

/// `arenas[i]`: the arena of slot i (nil until created).
struct ArenaTable {
  subscript(_ i: Int) -> UnsafeMutablePointer<Arena>? {
    get { arenaSlots[i].arena }
    nonmutating set { arenaSlots[i].arena = newValue }
  }
}

/// `arenaThreadCounts[i]`: the threads bound to arena i.
struct ArenaThreadCounts {
  subscript(_ i: Int) -> Int {
    get { arenaSlots[i].threads }
    nonmutating set { arenaSlots[i].threads = newValue }
  }
}

/// Empty chunks an arena keeps mapped (their pages purged by decay) before
/// unmapping further ones: bounded retained address space, and no
/// mmap/munmap/page-fault churn when big runs come and go.
let retainedEmptyChunks: UInt = 4

/// Usable pages of a chunk: all of them (its metadata is out of band).
@inline(__always) var chunkUsablePages: UInt { pagesPerChunk }

/// Creates arena `index` from base memory. Caller holds arenasLock.
func arenaCreate(_ index: Int) -> UnsafeMutablePointer<Arena>? {
  let binBytes = UInt(MemoryLayout<Bin>.stride &* smallClassCount)
  let headBytes = UInt(extentBucketCount &* 8)
  let arenaBytes = (UInt(MemoryLayout<Arena>.stride) &+ 63) & ~63
  let epochBytes = UInt(2 &* decayEpochs &* 8)
  guard let raw = baseAlloc(arenaBytes &+ binBytes &+ headBytes &+ epochBytes, alignment: 64) else { return nil }
  let bins = (raw + Int(arenaBytes)).bindMemory(to: Bin.self, capacity: smallClassCount)
  var i = 0
  while i < smallClassCount { (bins + i).initialize(to: Bin()); i &+= 1 }
  let heads = (raw + Int(arenaBytes &+ binBytes))
    .bindMemory(to: UnsafeMutablePointer<Extent>?.self, capacity: extentBucketCount)
  let epochs = (raw + Int(arenaBytes &+ binBytes &+ headBytes)).bindMemory(to: UInt.self, capacity: 2 &* decayEpochs)
  let a = raw.bindMemory(to: Arena.self, capacity: 1)
  a.initialize(to: Arena(freeExtents: ExtentBuckets(heads: heads), index: UInt32(index), bins: bins,
                         dirty: DecayStage(epochPages: epochs),
                         muzzy: DecayStage(epochPages: epochs + decayEpochs),
                         dirtyDecayMs: arenasDirtyDecayMs, muzzyDecayMs: arenasMuzzyDecayMs))
  arenas[index] = a
  return a
}

/// Binds the calling thread to an arena: an initialized arena with no
/// threads first, then a not-yet-created one, else the least loaded.
func arenaChoose() -> UnsafeMutablePointer<Arena>? {
  mutexLock(&arenasLock)
  defer { mutexUnlock(&arenasLock) }
  var best = -1
  var firstUncreated = -1
  var i = 0
  while i < autoArenaCount {
    if arenas[i] != nil {
      if arenaThreadCounts[i] == 0 { best = i; break }
      if best < 0 || arenaThreadCounts[i] < arenaThreadCounts[best] { best = i }
    } else if firstUncreated < 0 {
      firstUncreated = i
    }
    i &+= 1
  }
  if (best < 0 || arenaThreadCounts[best] != 0) && firstUncreated >= 0 {
    if arenaCreate(firstUncreated) != nil { best = firstUncreated }
  }
  if best < 0 { return nil }
  arenaThreadCounts[best] &+= 1
  atomicU32(&threadsBound).pointee.add(1, ordering: .relaxed)
  return arenas[best]
}

/// Runs `attempt` on each created arena other than `own`, in index order,
/// until one succeeds. For when `own` cannot supply pages because the system
/// refused it a chunk: under memory pressure a thread should not fail while
/// other arenas still hold free space (a new thread's new arena starts with
/// none). Only called after a failure, so it costs nothing otherwise.
func arenaFallback<T>(excluding own: UnsafeMutablePointer<Arena>,
                      _ attempt: (UnsafeMutablePointer<Arena>) -> T?) -> T? {
  var i = 0
  while i < autoArenaCount {
    mutexLock(&arenasLock)
    let a = arenas[i]
    mutexUnlock(&arenasLock)
    if let a, a != own, let result = attempt(a) { return result }
    i &+= 1
  }
  return nil
}

/// Arena `index`, created if it does not exist yet; nil for an index beyond
/// the arena count or when memory is exhausted.
func arenaGetOrCreate(_ index: Int) -> UnsafeMutablePointer<Arena>? {
  if index < 0 || index >= arenaCount { return nil }
  mutexLock(&arenasLock)
  defer { mutexUnlock(&arenasLock) }
  if let a = arenas[index] { return a.pointee.destroyed ? nil : a }
  return arenaCreate(index)
}

/// arenas.create: a new arena, used only by the threads (thread.arena) and
/// calls (MALLOCX_ARENA) that name it; a destroyed one's slot first.
func arenaCreateExplicit() -> Int? {
  mutexLock(&arenasLock)
  defer { mutexUnlock(&arenasLock) }
  var i = autoArenaCount
  while i < arenaCount {
    if let a = arenas[i], a.pointee.destroyed {
      a.pointee.destroyed = false
      return i
    }
    i &+= 1
  }
  if arenaCount >= arenaTableCapacity || arenaCreate(arenaCount) == nil { return nil }
  // Published after the table entry: readers go by arenaCount.
  arenaCount &+= 1
  return arenaCount &- 1
}

/// arena.<i>.reset: discards every block of an arena made by arenas.create,
/// at once, as jemalloc's does: its chunks are unmapped and the arena starts
/// empty. The caller promises what jemalloc requires: no block of the arena
/// is used again, and every thread cache that took or freed its blocks was
/// flushed (the caller flushes the calling thread's first). Blocks above 2 MiB are
/// mappings of their own, not the arena's: they stay allocated.
func arenaReset(_ a: UnsafeMutablePointer<Arena>) {
  var c = 0
  while c < smallClassCount { mutexLock(&(a.pointee.bins + c).pointee.lock); c &+= 1 }
  mutexLock(&a.pointee.extentLock)
  // Every chunk of the arena: its extents tile it, each starting with a
  // page-map entry; their records go back to the arena's record cache.
  var records: UnsafeMutablePointer<Extent>? = nil
  var r = 0
  while r < rootEntries {
    let leaf = pageMapRoot[r]
    if leaf != pageMapEmptyLeaf {
      var k = 0
      while k < leafEntries {
        let entry = leaf[k]
        if entry & pageMapArenaChunkTag != 0 {
          let meta = UnsafeMutablePointer<ChunkMeta>(bitPattern: entry & ~pageMapArenaChunkTag).unsafelyUnwrapped
          if meta.pointee.arena == a {
            let chunk = meta.pointee.chunk
            var page = chunk
            while page < chunk &+ chunkSize, let e = pageEntryExtent(pageEntry(page)) {
              page = e.end
              e.pointee.next = records
              records = e
            }
            _ = pageMapSet(chunk, 0)
            chunkMetaRecycle(meta)
            unmapPages(UnsafeMutableRawPointer(bitPattern: chunk).unsafelyUnwrapped, chunkSize)
          }
        }
        k &+= 1
      }
    }
    r &+= 1
  }
  // Empty again, keeping the locks (held), the tables and the settings.
  c = 0
  while c < smallClassCount {
    let bin = a.pointee.bins + c
    let lock = bin.pointee.lock
    bin.pointee = Bin()
    bin.pointee.lock = lock
    c &+= 1
  }
  var b = 0
  while b < extentBucketCount { a.pointee.freeExtents.heads[b] = nil; b &+= 1 }
  a.pointee.freeExtents.nonEmpty = 0
  while let e = records {
    records = e.pointee.next
    arenaRecycleRecord(a, e)
  }
  a.pointee.chunkCount = 0
  a.pointee.emptyChunkCount = 0
  a.pointee.largeBytes = 0
  a.pointee.largeCount = 0
  a.pointee.dirty = DecayStage(epochPages: a.pointee.dirty.epochPages)
  a.pointee.muzzy = DecayStage(epochPages: a.pointee.muzzy.epochPages)
  a.pointee.muzzyPagesTotal = 0
  mutexUnlock(&a.pointee.extentLock)
  c = 0
  while c < smallClassCount { mutexUnlock(&(a.pointee.bins + c).pointee.lock); c &+= 1 }
}

func arenaRelease(_ a: UnsafeMutablePointer<Arena>) {
  mutexLock(&arenasLock)
  arenaThreadCounts[Int(a.pointee.index)] &-= 1
  mutexUnlock(&arenasLock)
}

// MARK: Extent records (extentLock held)

func arenaNewRecord(_ a: UnsafeMutablePointer<Arena>) -> UnsafeMutablePointer<Extent>? {
  if let r = a.pointee.recordCache {
    a.pointee.recordCache = r.pointee.next
    r.initialize(to: Extent())
    return r
  }
  guard let raw = baseAlloc(extentRecordSize, alignment: 64) else { return nil }
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
  chunkMeta(address).pageMap[Int(pageIndexInChunk(address))] = value
}

@inline(__always)
func pageEntry(_ address: UInt) -> UInt {
  chunkMeta(address).pageMap[Int(pageIndexInChunk(address))]
}

/// Free extents are findable from their first and last pages.
func markFreeBoundaries(_ e: UnsafeMutablePointer<Extent>) {
  let entry = makePageEntry(e, classPlusOne: 0)
  setPageEntry(e.pointee.address, entry)
  setPageEntry(e.end &- pageSize, entry)
  invariant(e.pointee.pages > 0 && e.end <= (e.pointee.address & ~chunkMask) &+ chunkSize,
            "a free extent is empty or crosses its chunk's end")
  invariant(UInt(e.pointee.dirtyPages) &+ UInt(e.pointee.muzzyPages) <= e.pointee.pages,
            "a free extent has more dirty and muzzy pages than pages")
}

func clearBoundaries(_ e: UnsafeMutablePointer<Extent>) {
  setPageEntry(e.pointee.address, 0)
  setPageEntry(e.end &- pageSize, 0)
}

/// Maps a new chunk for the arena and files its usable pages as one free extent.
func arenaAddChunk(_ a: UnsafeMutablePointer<Arena>) -> Bool {
  guard let record = arenaNewRecord(a) else { return false }
  guard let raw = mapAligned(chunkSize, alignment: chunkSize) else {
    arenaRecycleRecord(a, record)
    return false
  }
  let chunk = UInt(bitPattern: raw)
  guard let meta = chunkMetaCreate(chunk: chunk, arena: a) else {
    unmapPages(raw, chunkSize)
    arenaRecycleRecord(a, record)
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

/// Takes free pages into use: whether they all read zero, and their state
/// bits cleared (they are counted as active now).
@inline(__always)
func pagesTakeIntoUse(_ address: UInt, pages: UInt) -> Bool {
  !pageStateSet(address, pages: pages, .cleared)
}

/// Takes `pages` pages whose start is aligned to `alignPages` pages (a power
/// of two), splitting off the unused head and tail. The caller sets the
/// state and page-map entries of the returned extent.
func arenaAllocPages(_ a: UnsafeMutablePointer<Arena>, pages: UInt, alignPages: UInt) -> UnsafeMutablePointer<Extent>? {
  let need = pages &+ alignPages &- 1
  if need > chunkUsablePages { return nil }
  // Records for a possible head and tail split, reserved up front so a
  // failure leaves the free extents untouched.
  guard let head = arenaNewRecord(a) else { return nil }
  guard let tail = arenaNewRecord(a) else { arenaRecycleRecord(a, head); return nil }
  var found = a.pointee.freeExtents.takeBestFit(pages: need)
  if found == nil {
    if arenaAddChunk(a) { found = a.pointee.freeExtents.takeBestFit(pages: need) }
  }
  guard let e = found else {
    arenaRecycleRecord(a, head)
    arenaRecycleRecord(a, tail)
    return nil
  }
  if e.pointee.pages == chunkUsablePages { a.pointee.emptyChunkCount &-= 1 }
  decayUntrack(a, e)
  clearBoundaries(e)
  let alignBytes = alignPages << pageShift
  let alignedStart = (e.pointee.address &+ alignBytes &- 1) & ~(alignBytes &- 1)
  let leadPages = (alignedStart &- e.pointee.address) >> pageShift
  if leadPages != 0 {
    head.pointee.address = e.pointee.address
    head.pointee.pages = leadPages
    extentCountStates(head)
    a.pointee.freeExtents.insert(head)
    markFreeBoundaries(head)
    decayTrack(a, head)
    e.pointee.address = alignedStart
    e.pointee.pages &-= leadPages
  } else {
    arenaRecycleRecord(a, head)
  }
  if e.pointee.pages > pages {
    tail.pointee.address = e.pointee.address &+ (pages << pageShift)
    tail.pointee.pages = e.pointee.pages &- pages
    extentCountStates(tail)
    a.pointee.freeExtents.insert(tail)
    markFreeBoundaries(tail)
    decayTrack(a, tail)
    e.pointee.pages = pages
  } else {
    arenaRecycleRecord(a, tail)
  }
  e.pointee.contents = pagesTakeIntoUse(e.pointee.address, pages: pages) ? .zeroed : .dirty
  e.pointee.dirtyPages = 0
  e.pointee.muzzyPages = 0
  decayTick(a)
  return e
}

/// Returns an extent's pages to the free store, coalescing with free
/// neighbours; a chunk that becomes entirely free is unmapped when the arena
/// already keeps one empty chunk in reserve.
func arenaFreePages(_ a: UnsafeMutablePointer<Arena>, _ e: UnsafeMutablePointer<Extent>) {
  invariant(e.pointee.state != .free, "a free extent freed again")
  // (nil: a page run taken straight from arenaAllocPages, as the unit tests
  // do, has no page-map entries yet.)
  invariant(pageEntryExtent(pageEntry(e.pointee.address)).map { $0 == e } ?? true,
            "an extent's first page maps to another extent")
  if e.pointee.state == .slab {
    var page = e.pointee.address
    let end = e.end
    while page < end { setPageEntry(page, 0); page &+= pageSize }
  } else {
    clearBoundaries(e)
  }
  e.pointee.state = .free
  let freedPages = e.pointee.pages
  pageStateSet(e.pointee.address, pages: freedPages, .freed)
  var dirty = freedPages
  var muzzy: UInt = 0
  let chunk = e.pointee.address & ~chunkMask
  let firstPage = pageIndexInChunk(e.pointee.address)
  if firstPage > 0, let left = pageEntryExtent(pageEntry(e.pointee.address &- pageSize)),
     left.pointee.state == .free {
    a.pointee.freeExtents.remove(left)
    decayUntrack(a, left)
    dirty &+= UInt(left.pointee.dirtyPages)
    muzzy &+= UInt(left.pointee.muzzyPages)
    clearBoundaries(left)
    e.pointee.address = left.pointee.address
    e.pointee.pages &+= left.pointee.pages
    arenaRecycleRecord(a, left)
  }
  let endAddress = e.end
  if endAddress < chunk &+ chunkSize, let right = pageEntryExtent(pageEntry(endAddress)),
     right.pointee.state == .free {
    a.pointee.freeExtents.remove(right)
    decayUntrack(a, right)
    dirty &+= UInt(right.pointee.dirtyPages)
    muzzy &+= UInt(right.pointee.muzzyPages)
    clearBoundaries(right)
    e.pointee.pages &+= right.pointee.pages
    arenaRecycleRecord(a, right)
  }
  if e.pointee.pages == chunkUsablePages {
    if a.pointee.emptyChunkCount >= retainedEmptyChunks {
      // Keep a few empty chunks per arena to absorb alloc/free cycles
      // (decay purges their pages; the address space stays); unmap the rest.
      arenaRecycleRecord(a, e)
      let meta = chunkMeta(chunk)
      _ = pageMapSet(chunk, 0)
      chunkMetaRecycle(meta)
      unmapPages(UnsafeMutableRawPointer(bitPattern: chunk).unsafelyUnwrapped, chunkSize)
      a.pointee.chunkCount &-= 1
      return
    }
    a.pointee.emptyChunkCount &+= 1
  }
  e.pointee.dirtyPages = UInt32(truncatingIfNeeded: dirty)
  e.pointee.muzzyPages = UInt32(truncatingIfNeeded: muzzy)
  a.pointee.freeExtents.insert(e)
  markFreeBoundaries(e)
  decayTrack(a, e)
  decayTick(a)
}

// MARK: Large allocations

/// The smallest large class: the first class that is not small.
@inline(__always) var largeMinClass: UInt { sizeClassSize(smallClassCount) }

/// Allocates a large run of class `sizeClass` aligned to `alignment` bytes.
func arenaAllocLarge(_ a: UnsafeMutablePointer<Arena>, sizeClass: Int, alignment: UInt, zero: Bool) -> UnsafeMutableRawPointer? {
  let usize = sizeClassSize(sizeClass)
  let pages = usize >> pageShift
  let alignPages = alignment > pageSize ? alignment >> pageShift : 1
  mutexLock(&a.pointee.extentLock)
  guard let e = arenaAllocPages(a, pages: pages, alignPages: alignPages) else {
    mutexUnlock(&a.pointee.extentLock)
    return nil
  }
  e.pointee.state = .large
  e.pointee.sizeClass = UInt16(sizeClass)
  let wasZeroed = e.pointee.contents == .zeroed
  setPageEntry(e.end &- pageSize, makePageEntry(e, classPlusOne: 0))
  setPageEntry(e.pointee.address, makePageEntry(e, classPlusOne: UInt(sizeClass) &+ 1))
  a.pointee.largeBytes &+= usize
  statsAllocated(usize)
  a.pointee.largeCount &+= 1
  a.pointee.largeMallocs &+= 1
  mutexUnlock(&a.pointee.extentLock)
  let p = UnsafeMutableRawPointer(bitPattern: e.pointee.address).unsafelyUnwrapped
  if zero && !wasZeroed { memset(p, 0, Int(usize)) }
  return p
}

/// Frees the large run that starts at `address`, from a thread cache's
/// flush or not. Checked under the extent lock: a run no longer live there,
/// or not in the state the caller expects, is a double free (freed twice,
/// by one thread or by two at once), an address inside a run an invalid
/// pointer; both abort.
func arenaFreeLarge(_ a: UnsafeMutablePointer<Arena>, address: UInt, fromThreadCache: Bool) {
  mutexLock(&a.pointee.extentLock)
  let entry = pageEntry(address)
  guard entry >> pageEntryClassShift != 0, let e = pageEntryExtent(entry), e.pointee.state == .large,
        e.pointee.inThreadCache == fromThreadCache else {
    fatal("free(): double free detected (a large block was freed twice)")
  }
  if e.pointee.address != address { fatal("free(): invalid pointer (not the start of an allocated block)") }
  e.pointee.inThreadCache = false
  a.pointee.largeBytes &-= e.pointee.pages << pageShift
  statsDeallocated(e.pointee.pages << pageShift)
  a.pointee.largeCount &-= 1
  a.pointee.largeFrees &+= 1
  arenaFreePages(a, e)
  mutexUnlock(&a.pointee.extentLock)
}

/// Resizes a large run in place to class `newClass` when the pages after it
/// are free (grow) or by giving back its tail (shrink). Returns success.
func arenaResizeLargeInPlace(_ a: UnsafeMutablePointer<Arena>, _ e: UnsafeMutablePointer<Extent>, newClass: Int) -> Bool {
  let newPages = sizeClassSize(newClass) >> pageShift
  mutexLock(&a.pointee.extentLock)
  defer { mutexUnlock(&a.pointee.extentLock) }
  let oldPages = e.pointee.pages
  if newPages == oldPages { return true }
  let chunk = e.pointee.address & ~chunkMask
  if newPages > oldPages {
    let end = e.end
    guard end < chunk &+ chunkSize, let right = pageEntryExtent(pageEntry(end)),
          right.pointee.state == .free, right.pointee.pages >= newPages &- oldPages else { return false }
    let extra = newPages &- oldPages
    a.pointee.freeExtents.remove(right)
    decayUntrack(a, right)
    clearBoundaries(right)
    _ = pagesTakeIntoUse(end, pages: extra)
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
  e.pointee.sizeClass = UInt16(newClass)
  setPageEntry(e.pointee.address, makePageEntry(e, classPlusOne: UInt(newClass) &+ 1))
  return true
}

// MARK: Slabs

/// Takes pages for a fresh slab of small class `sizeClass`; every page maps
/// back to the slab so any region can be freed.
func arenaAllocSlab(_ a: UnsafeMutablePointer<Arena>, sizeClass: Int) -> UnsafeMutablePointer<Extent>? {
  let info = binInfos[sizeClass]
  mutexLock(&a.pointee.extentLock)
  guard let e = arenaAllocPages(a, pages: UInt(info.slabPages), alignPages: 1) else {
    mutexUnlock(&a.pointee.extentLock)
    return nil
  }
  e.pointee.state = .slab
  e.pointee.sizeClass = UInt16(sizeClass)
  e.pointee.freeRegions = info.regionCount
  e.pointee.slabList = .full
  let entry = makePageEntry(e, classPlusOne: UInt(sizeClass) &+ 1)
  var page = e.pointee.address
  let end = e.end
  while page < end { setPageEntry(page, entry); page &+= pageSize }
  mutexUnlock(&a.pointee.extentLock)
  e.bitmap.setAll()
  return e
}

func arenaFreeSlab(_ a: UnsafeMutablePointer<Arena>, _ e: UnsafeMutablePointer<Extent>) {
  invariant(e.pointee.freeRegions == binInfos[Int(e.pointee.sizeClass)].regionCount,
            "a slab went back to its arena with regions in use")
  mutexLock(&a.pointee.extentLock)
  arenaFreePages(a, e)
  mutexUnlock(&a.pointee.extentLock)
}

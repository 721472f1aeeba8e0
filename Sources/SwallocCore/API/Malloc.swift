// malloc and free: the thread-cache fast paths and the slow paths behind
// them, exported under swalloc_ names; the C layer (lib/exports.c and the
// link step) gives them their standard names. Semantics follow glibc's
// (README.md, "API").

import CSwallocPlatform
import Synchronization

// MARK: Fast paths

@_cdecl("swalloc_malloc") @_silgen_name("swalloc_internal_malloc")
public func swallocMalloc(_ size: UInt) -> UnsafeMutableRawPointer? {
  // popCounted() spelled out: `if let p = ...popCounted()` would test the
  // popped pointer for nil too (two more instructions on every malloc).
  if size <= lookupMaxSize {
    let bin = fastPathBin(atOffset: sizeBinOffset(size))
    let head = bin.pointee.head
    if head != bin.pointee.end {
      // The class's countdown (TcacheBin.countdown): counts the pop, and
      // at 0 sends it to the event (a heap-profile sample with prof:true).
      let left = bin.pointee.countdown &- 1
      bin.pointee.countdown = left
      if left != 0 {
        bin.pointee.head = head + 1
        return head.pointee
      }
      return mallocCountdownEvent(size)
    }
  }
  return mallocSlow(size)
}

/// The malloc fast path's pop took its class's countdown to 0: the
/// sampled path, or the pop made uncounted (its bytes counted in the tsd).
@inline(never)
func mallocCountdownEvent(_ size: UInt) -> UnsafeMutableRawPointer? {
  let code = sizeCode(size)
  let bin = fastPathBins() + code
  if tcacheCountdownEvent(bin, sizeClass: code &- 1) {
    // A thread with a cache has booted the allocator.
    return profAllocSampled(size, alignment: 0, zero: false)
  }
  guard let p = bin.pop() else { return mallocSlow(size) }
  threadCountBytes(bootedClassSize(code &- 1))
  return p
}

/// The thread-cache hit for an aligned or zeroed request: the malloc fast
/// path on the size rounded up to the alignment, which lands on a class that
/// is a multiple of the alignment, i.e. aligned regions in page-aligned slabs
/// (SizeClassTests checks this) or page-aligned large runs. nil: take the
/// slow path. Callers guarantee size <= 2 MiB and alignment <= a page, so
/// nothing overflows.
@inline(__always)
func cachedAlignedAlloc(_ size: UInt, alignment: UInt) -> UnsafeMutableRawPointer? {
  // size 0 still gets a block of its own, aligned like any other.
  let rounded = alignedRequestSize(max(size, 1), alignment: alignment)
  // The fast paths' view of the stacks: a thread without a cache sees the
  // empty tcache's, which fail the pop (no nil test here either).
  let bins = fastPathBins()
  if rounded <= lookupMaxSize {
    let code = sizeCode(rounded)
    return (bins + code).popCounted(sizeClass: code &- 1)
  }
  if rounded > largeMaxClass { return nil }
  let sizeClass = classIndexFor(rounded)   // uncached classes have empty stacks
  guard let p = (bins + (sizeClass &+ 1)).popCounted(sizeClass: sizeClass) else { return nil }
  if sizeClass >= config.smallClassCount { largeLeftThreadCache(p) }
  return p
}

/// A large run taken back out of a thread cache is live again.
@inline(__always)
func largeLeftThreadCache(_ p: UnsafeMutableRawPointer) {
  largeSetCached(UInt(bitPattern: p), false)
}

@_cdecl("swalloc_free") @_silgen_name("swalloc_internal_free")
public func swallocFree(_ pointer: UnsafeMutableRawPointer?) {
  // The radix entry through the hot leaf (pageMapHot): its index and leaf
  // are loaded while the address is compared, so the entry is one load
  // from the address. Bit casts rather than UInt(bitPattern:) of
  // optionals, which branch on nil.
  let address = unsafeBitCast(pointer, to: UInt.self)
  let hotLeaf = pageMapHotLeaf()
  if address &>> rootShift == pageMapHotIndex() {
    let leaf = pageMapSlot(hotLeaf, pageMapLeafIndex(address))
    if leaf & pageMapArenaChunkTag != 0 { return freeInArenaChunk(pointer, address: address, leaf: leaf) }
    return freeSlow(pointer)
  }
  freeAnyRoot(pointer)
}

/// free's fast path for an address outside the hot leaf's 512 GiB: the
/// two-level walk. No NULL test here: address 0 reads the radix map's
/// empty leaf, whose entry has no arena-chunk tag, so free(NULL) ends in
/// freeSlow, which returns. Addresses of 48 bits and more would alias
/// lower ones in the radix map: their root index is out of range and they
/// go to the slow path too (which rejects them).
@inline(never)
func freeAnyRoot(_ pointer: UnsafeMutableRawPointer?) {
  let address = unsafeBitCast(pointer, to: UInt.self)
  let rootIndex = address &>> rootShift
  if rootIndex < UInt(rootEntries),
     case let leaf = pageMapSlot(forAddress: address, rootIndex: rootIndex),
     leaf & pageMapArenaChunkTag != 0 {
    return freeInArenaChunk(pointer, address: address, leaf: leaf)
  }
  freeSlow(pointer)
}

/// The byte offset among a cache's stacks of the stack for the block at
/// `address`, of the arena chunk whose radix entry is `leaf`: its class
/// code's, by the byte offset the page's entry holds, read from the
/// chunk's bin map (its copy of that half of the entry, a quarter of the
/// bytes: Chunk.swift).
@inline(__always)
func chunkBinOffset(leaf: UInt, address: UInt) -> Int {
  let binMap = UnsafeRawPointer(bitPattern: leaf &+ UInt(chunkMetaBinMapOffset &- 1)).unsafelyUnwrapped
  return Int(binMap.load(fromByteOffset: Int(pageIndexInChunk(address)) &* 2, as: UInt16.self))
}

/// The rest of free's fast path, for a block of an arena chunk whose radix
/// entry (its ChunkMeta | pageMapArenaChunkTag) is `leaf`.
@inline(__always)
func freeInArenaChunk(_ pointer: UnsafeMutableRawPointer?, address: UInt, leaf: UInt) {
  let binOffset = UInt(chunkBinOffset(leaf: leaf, address: address))
  // Code 0 (no allocation starts here) and uncached classes have
  // zero-capacity stacks, and a thread without a cache has only those:
  // they fail the room check.
  // Room left, and not the block freed last. Large classes never have
  // room here.
  // Only a block of the thread's own arena enters its stacks here: one
  // of another arena's, reused by this thread, would spread both threads'
  // blocks over both arenas' slabs (see freeOtherArena).
  let bins = fastPathBins()
  let bin = fastPathBin(atOffset: Int(bitPattern: binOffset))
  if chunkMetaArenaWord(leaf: leaf) != fastPathOwner(bins) {
    return freeOtherArena(pointer.unsafelyUnwrapped, leaf: leaf, bin: bin, binOffset: binOffset)
  }
  if bin.fastPush(pointer, address: address) { return }
  // The chunk's radix entry goes along: a large block's cache free needs
  // its page-map entry, and a foreign block's its arena. (Not the entry's
  // address, which the fast path would then keep in a register.)
  return freeMiss(pointer.unsafelyUnwrapped, leaf: leaf)
}

/// A free the fast path could not take, of a block in an arena chunk whose
/// radix entry (its ChunkMeta | pageMapArenaChunkTag) it read: a large
/// block's thread-cache free without a second page-map walk (malloc(20000)
/// + free: 161 -> 141 instructions), a small block of the thread's own
/// arena whose stack is full (freeOverflowingStack), else freeFull.
@inline(never)
func freeMiss(_ pointer: UnsafeMutableRawPointer, leaf: UInt) {
  let meta = UnsafeMutablePointer<ChunkMeta>(bitPattern: leaf &- pageMapArenaChunkTag).unsafelyUnwrapped
  let slot = meta.pageMap + Int(pageIndexInChunk(UInt(bitPattern: pointer)))
  if freeLargeToCache(pointer, slot: slot) { return }
  freeMissSmall(pointer, leaf: leaf, entry: slot.pointee)
}

/// freeMiss's blocks that are not large (out of line, so that its large
/// case keeps its registers): a small block of the thread's own arena
/// whose stack is full goes to freeOverflowingStack, the rest to freeFull.
/// Its class code from the page's entry `entry` (the fast path read the
/// same code from the chunk's bin map); code 0 gives -1, which the
/// unsigned compare rejects. The thread's cache, when its arena owns the
/// chunk (the empty tcache's owner word matches no arena); an uncached
/// small class has a stack of no entries (head == end); the block on top
/// is a double free, which freeFull reports; secure:true's stacks never
/// have room on the fast path, and its frees take freeFull's checks.
@inline(never)
private func freeMissSmall(_ pointer: UnsafeMutableRawPointer, leaf: UInt, entry: UInt) {
  let code = entry >> pageEntryClassShift
  if code &- 1 < UInt(bitPattern: config.smallClassCount) && !config.opt.secure {
    let bins = fastPathBins()
    let bin = bins + Int(code)
    let head = bin.pointee.head
    if chunkMetaArenaWord(leaf: leaf) == fastPathOwner(bins) && head != bin.pointee.end
       && unsafeBitCast(head.pointee, to: UInt.self) != UInt(bitPattern: pointer) {
      return freeOverflowingStack(pointer, bins, bin, sizeClass: Int(code &- 1))
    }
  }
  freeFull(pointer)
}

/// A free of a small block of the thread's own arena that found its stack
/// `bin` full on the fast path (freeMiss): cacheFree (the overflow and the
/// push), counted as the fast path counts its pushes, without freeFull's
/// lookup, counting and checks, ~180 instructions once per overflow (bench
/// burst, runs of frees of one class, met one every 56 frees) that told
/// this path nothing new: the region's checks are the flush's, as for
/// every block the fast path pushes. `wl burst 1 0.1` 175.4M -> 172.5M
/// instructions, `wl xmalloc 2 0.2` 115.2M -> 114.2M (callgrind). (Out of
/// line, so that freeMiss's large-block case saves no registers.)
@inline(never)
private func freeOverflowingStack(_ pointer: UnsafeMutableRawPointer, _ bins: UnsafeMutablePointer<TcacheBin>,
                                  _ bin: UnsafeMutablePointer<TcacheBin>, sizeClass: Int) {
  let t = tcacheOwning(bins: UnsafeMutableRawPointer(bins))
  invariant(currentTcache() == t && bin == tcacheBin(t, sizeClass), "the fast path's stacks are not the thread's cache")
  cacheFree(t, pointer, sizeClass)
  bin.pointee.frees &+= 1   // thread.deallocated, as on the fast path
  backgroundThreadMaybeStart()
}

/// The free of a block whose chunk is not in the thread's arena, or by a
/// thread without a cache (the fast path's ownership test), with `bin` the
/// fast path's stack for its class code and `binOffset` its offset. A block of up to
/// tcacheForeignMaxSize goes onto the bottom of that stack, above the
/// foreign entries already there, while they fill less than half of it and
/// the stack has room (bigger ones join the thread's own entries, as the
/// fast path would push them). The foreign entries go home at
/// the next flush of the stack (flushSmall: under the owner bin's lock when
/// it is free, else onto its remote-free stack), never to this thread's
/// malloc, which pops from the other end. A cache that took such blocks as
/// its own handed them out again, and every thread's live blocks came to
/// lie in every arena's slabs (docs/ARCHITECTURE.md, "Frees from other
/// threads", has the figures). Checked as the fast path's blocks are, when
/// the flush returns them.
///
/// Up to the limit, only stacks that keep foreign entries have fastLimit <
/// end: under secure:true every fastLimit is its stack's end (and the
/// limit 0); code 0, uncached classes and the empty tcache (all zero) have
/// zero-capacity stacks. Their frees, and the block freed last (a double
/// free, which freeFull reports), go to freeMiss. A stack's start[-1] is
/// the previous stack's nil sentinel, so top[-1] is always readable there.
@inline(never)
func freeOtherArena(_ pointer: UnsafeMutableRawPointer, leaf: UInt, bin: UnsafeMutablePointer<TcacheBin>,
                    binOffset: UInt) {
  let address = UInt(bitPattern: pointer)
  // Above tcacheForeignMaxSize, the thread's own stack takes it, as the
  // fast path would. (The offset comes from the fast path, which has it in
  // a register. Recomputed here from the TLS slot, it cost bench xmalloc,
  // where every free is foreign, 224.5M instructions against 220.9M.)
  if binOffset > config.tcacheForeignBinOffsetLimit {
    if bin.fastPush(pointer, address: address) { return }
    return freeMiss(pointer, leaf: leaf)
  }
  let top = bin.pointee.fastLimit
  if top < bin.pointee.end && unsafeBitCast((top - 1).pointee, to: UInt.self) != address {
    if !bin.pushForeign(pointer) { foreignStackFull(pointer, bin: bin) }
    bin.pointee.frees &+= 1   // thread.deallocated, as on the fast path
    return
  }
  freeMiss(pointer, leaf: leaf)
}

/// freeOtherArena's stack holds as many foreign entries as it may, or has
/// no room: flushes them home with the stack's older half (tcacheFlush),
/// then pushes. The caller counts the bytes freed.
@inline(never)
private func foreignStackFull(_ pointer: UnsafeMutableRawPointer, bin: UnsafeMutablePointer<TcacheBin>) {
  let t = currentTcache().unsafelyUnwrapped
  foreignStackFull(pointer, bin: bin, t, sizeClass: bin - tcacheBin(forCode: 1, t))
}

/// foreignStackFull for stack `bin` of class `sizeClass` of cache `t`,
/// which may be an explicit cache (freeExplicit): the stack is not found
/// from the thread's cache. (Taking it from there put an explicit cache's
/// stack at a class offset of the thread's: tcacheFlush then read a
/// stack that was not one, a crash api_fuzz found at once.)
private func foreignStackFull(_ pointer: UnsafeMutableRawPointer, bin: UnsafeMutablePointer<TcacheBin>,
                              _ t: UnsafeMutablePointer<Tcache>, sizeClass: Int) {
  tcacheFlush(t, sizeClass: sizeClass, keep: Int(bin.pointee.capacity >> 1))
  tcacheEvent(t)
  // The flush left no foreign entry and at most half a stack of 4 or more.
  let pushed = bin.pushForeign(pointer)
  invariant(pushed, "a flushed thread-cache stack has no room")
}

/// The thread-cache free of a large block (16 KiB .. tcache_max), whose
/// stack never has room on the fast path, first thing in freeSlow (kept
/// out of the fast path, whose instruction count it would raise): checks
/// that a live large run starts at `pointer` and is not in a thread cache
/// already, marks it as cached and pushes it. False: the rest of freeSlow
/// (a small block, a full stack, an invalid pointer or a double free,
/// which it reports, secure:true).
@inline(__always)
private func freeLargeToCache(_ pointer: UnsafeMutableRawPointer) -> Bool {
  guard let meta = arenaChunkMeta(UInt(bitPattern: pointer)) else { return false }
  return freeLargeToCache(pointer, slot: meta.pageMap + Int(pageIndexInChunk(UInt(bitPattern: pointer))))
}

/// freeLargeToCache with the page-map entry of `pointer`'s page at `slot`
/// (`pointer` lies in an arena chunk). Runs of other arenas are cached like
/// the thread's own (unlike small blocks: freeOtherArena): sending them
/// home cost bench server-churn about 20% of its time for 2-4 MiB of its
/// 16-21 MiB peak RSS (run-to-run noise is as large), where the owner
/// then carves new runs instead of reusing them.
@inline(__always)
private func freeLargeToCache(_ pointer: UnsafeMutableRawPointer, slot entrySlot: UnsafeMutablePointer<UInt>) -> Bool {
  // secure:true checks every large free on the full path; a block sampled
  // by the heap profiler (profSample) leaves its profile there.
  if config.opt.secure { return false }
  let address = UInt(bitPattern: pointer)
  let entry = entrySlot.pointee
  let code = entry >> pageEntryClassShift
  // (Bit patterns: UInt(_:)'s sign checks were a branch and a trap each.)
  if code <= UInt(bitPattern: config.smallClassCount) || code > UInt(bitPattern: config.tcacheClassCount) {
    return false
  }
  // A large class code is on a large run's first page only (its other
  // pages have none), so a page-aligned pointer with one is the run's
  // start, from the entry alone; not already in a cache (the entry's
  // cached bit), and (once the profiler has sampled) not sampled.
  if address & pageMask != 0 || entry & pageEntryCachedBit != 0 { return false }
  if profEverSampled.load(ordering: .relaxed) != 0,
     pageEntryExtent(entry).unsafelyUnwrapped.pointee.sampled { return false }
  // The fast paths' view: a thread without a cache sees the empty tcache,
  // whose stacks are all full (head == start).
  let bin = fastPathBins() + Int(code)
  let head = bin.pointee.head
  if head == bin.pointee.start || unsafeBitCast(head.pointee, to: UInt.self) == address { return false }
  storeCachedMark(entrySlot, entry | pageEntryCachedBit)
  let slot = head - 1
  slot.pointee = pointer
  bin.pointee.head = slot
  bin.pointee.frees &+= 1   // thread.deallocated, as on the fast path
  return true
}

// MARK: Slow paths

/// The thread-cache hit for a size above the lookup table (15 KiB up to
/// largeMaxClass), without a frame: the class from sizeUpper, then the fast
/// path's pop, unless the class's countdown is about to reach its event
/// (left to the callers' slow paths, as are uncached classes, whose stacks
/// are empty). A large run leaving the cache is marked live again. The
/// caller has checked lookupMaxSize < size <= largeMaxClass.
@inline(__always)
func cachedPopAboveTable(_ size: UInt) -> UnsafeMutableRawPointer? {
  let sizeClass = classIndexFor(size)
  guard let p = (fastPathBins() + (sizeClass &+ 1)).popBeforeEvent() else { return nil }
  if sizeClass >= config.smallClassCount { largeLeftThreadCache(p) }
  return p
}

/// malloc's slow path. Its first cases have no frame (the rest is in
/// mallocSlowRest, a tail call): a cache hit above the lookup table
/// (malloc(5000) + free 89 -> 80 instructions, malloc(20000) + free 141 ->
/// 131), and a small class's empty stack in the thread's cache, refilled
/// at once (mallocRefill).
@inline(never)
func mallocSlow(_ size: UInt) -> UnsafeMutableRawPointer? {
  if size &- (lookupMaxSize &+ 1) < largeMaxClass &- lookupMaxSize {
    if let p = cachedPopAboveTable(size) { return p }
  } else if size <= lookupMaxSize {
    // The fast path found the stack empty (a countdown event goes to
    // mallocCountdownEvent instead). A real cache (its owner word, the
    // thread's arena; 0 in the empty tcache), a cached small class (an
    // uncached one's stack has no entries: start == end), and no heap
    // profiling, whose byte countdown mallocSlowRest runs.
    let code = sizeCode(size)
    let bins = fastPathBins()
    let bin = bins + code
    if fastPathOwner(bins) != 0 && UInt(bitPattern: code &- 1) < UInt(bitPattern: config.smallClassCount)
       && bin.pointee.start != bin.pointee.end && !profActive {
      return mallocRefill(bins, sizeClass: code &- 1)
    }
  }
  return mallocSlowRest(size)
}

/// mallocSlow's refill of the empty stack of small class `sizeClass` in the
/// cache whose stacks are `bins`: what mallocSlowRest and allocateClass do
/// for it (tcacheRefillAndPop, the bytes counted, the idle tick, the
/// background thread's start) without their class arithmetic, boot check,
/// cache lookup and second pop. Every refill of a small class's stack
/// comes this way: ~60 instructions each (`wl burst 1 0.1`, 36.9K refills:
/// 172.4M -> 170.5M instructions; xmalloc 2 0.2 114.4M -> 113.8M).
@inline(never)
private func mallocRefill(_ bins: UnsafeMutablePointer<TcacheBin>, sizeClass: Int) -> UnsafeMutableRawPointer? {
  let t = tcacheOwning(bins: UnsafeMutableRawPointer(bins))
  invariant(currentTcache() == t, "the fast path's stacks are not the thread's cache")
  let p = tcacheRefillAndPop(t, sizeClass: sizeClass)
  backgroundThreadMaybeStart()
  guard let p else { setErrno(ENOMEM); return nil }
  threadCountAllocated(bootedClassSize(sizeClass))
  return p
}

@inline(never)
private func mallocSlowRest(_ size: UInt) -> UnsafeMutableRawPointer? {
  // The cache hit for the classes above the lookup table (15 KiB up to
  // tcache_max): the class from sizeUpper, then the fast path's counted pop
  // (here also at a countdown event).
  // With profiling active, an allocation no pop counted goes through the
  // byte countdown (profMalloc); one a class countdown chose for sampling
  // too (popCounted set the forced flag).
  if size > lookupMaxSize && size <= largeMaxClass, let p = cachedAlignedAlloc(size, alignment: quantum) {
    return p
  }
  if profActive, let p = profMalloc(size) { return p }
  if !ensureBooted() { setErrno(ENOMEM); return nil }
  if size > largeMaxClass {
    if size > maxRequestSize { setErrno(ENOMEM); return nil }
    guard let p = hugeAlloc(size, alignment: 0) else { setErrno(ENOMEM); return nil }
    threadCountAllocated(roundUpToPage(size))
    return p
  }
  let sizeClass = classIndexFor(size)
  guard let p = allocateClass(sizeClass, request: size) else { return nil }
  threadCountAllocated(largeRunBytes(request: size, sizeClass: sizeClass))
  return p
}

/// Allocates one block of class `sizeClass` for a request of `request`
/// bytes, through explicit cache `cache` if given, else the thread's cache
/// when it has one. Sets ENOMEM on failure.
func allocateClass(_ sizeClass: Int, request: UInt,
                   cache: UnsafeMutablePointer<Tcache>? = nil) -> UnsafeMutableRawPointer? {
  var result: UnsafeMutableRawPointer? = nil
  if sizeClass < config.tcacheClassCount, let t = cache ?? tsdFetchTcache() {
    if let p = tcacheBin(t, sizeClass).pop() {
      if sizeClass >= config.smallClassCount { largeLeftThreadCache(p) }
      return p
    }
    if sizeClass < config.smallClassCount {
      result = tcacheRefillAndPop(t, sizeClass: sizeClass)
    } else {
      tcacheBin(t, sizeClass).markRefilled()
      tcacheEvent(t)
      let arena = t.pointee.arena
      // (A cached class: its runs are the class's size.)
      let bytes = bootedClassSize(sizeClass)
      result = arenaAllocLarge(arena, sizeClass: sizeClass, bytes: bytes, alignment: pageSize, zero: false)
        ?? arenaFallback(excluding: arena) {
          arenaAllocLarge($0, sizeClass: sizeClass, bytes: bytes, alignment: pageSize, zero: false)
        }
    }
  } else {
    result = allocateUncached(sizeClass, request: request, alignment: 0, zero: false)
  }
  if result == nil { setErrno(ENOMEM) }
  backgroundThreadMaybeStart()
  return result
}

/// The thread's arena: its tcache's, or the one it is bound to without a
/// cache (uncachedArena).
func threadArena() -> UnsafeMutablePointer<Arena> {
  if let t = tsdFetchTcache() { return t.pointee.arena }
  return uncachedArena()
}

/// Allocates a block of class `sizeClass` for a request of `request` bytes
/// straight from an arena (the thread's unless one is given), bypassing
/// the thread cache.
func allocateUncached(_ sizeClass: Int, request: UInt, alignment: UInt, zero: Bool,
                      arena chosen: UnsafeMutablePointer<Arena>? = nil) -> UnsafeMutableRawPointer? {
  let arena = chosen ?? threadArena()
  let zeroed = zero || config.opt.zero
  var p: UnsafeMutableRawPointer? = nil
  var usable = sizeClassSize(sizeClass)
  if sizeClass < config.smallClassCount {
    if binFill(arena, sizeClass: sizeClass, into: &p, want: 1) == 0 {
      // An arena named by the caller (MALLOCX_ARENA) is not substituted.
      if chosen != nil { return nil }
      p = arenaFallback(excluding: arena) { a -> UnsafeMutableRawPointer? in
        var q: UnsafeMutableRawPointer? = nil
        return binFill(a, sizeClass: sizeClass, into: &q, want: 1) == 0 ? nil : q
      }
      if p == nil { return nil }
    }
    if zeroed, let p { memset(p, 0, Int(usable)) }
  } else {
    usable = largeRunBytes(request: request, sizeClass: sizeClass)
    p = arenaAllocLarge(arena, sizeClass: sizeClass, bytes: usable, alignment: alignment, zero: zeroed)
    if p == nil && chosen == nil {
      p = arenaFallback(excluding: arena) {
        arenaAllocLarge($0, sizeClass: sizeClass, bytes: usable, alignment: alignment, zero: zeroed)
      }
    }
  }
  if config.opt.junkAlloc && !zeroed, let p { memset(p, 0xa5, Int(usable)) }
  return p
}

/// junk:free: fills a block about to be freed with 0x5a.
@inline(__always)
func junkOnFree(_ pointer: UnsafeMutableRawPointer, _ allocation: Allocation) {
  if config.opt.junkFree { memset(pointer, 0x5a, Int(allocation.usableSize)) }
}

/// Frees straight to the owning arena, bypassing the thread cache
/// (dallocx with MALLOCX_TCACHE_NONE).
func freeUncached(_ pointer: UnsafeMutableRawPointer) {
  freeToArena(pointer, freeLookup(pointer, "free"))
}

/// What every free that is not a thread cache's fast push does first: the
/// full lookup (which aborts on a pointer swalloc did not hand out or has
/// already taken back), the profile's and the thread's counts, junk:free.
/// Inlined, as cacheTake: freeFull's code stays what it was before they
/// were shared, and no call of theirs lands in the cold text (a small
/// program touching that text faults in 64 KiB of it: check-library.sh).
@inline(__always)
private func freeLookup(_ pointer: UnsafeMutableRawPointer, _ what: StaticString) -> Allocation {
  if !isBooted() { invalidPointer(what) }
  let allocation = lookupAllocation(pointer, what)
  profOnFree(allocation)
  threadCountDeallocated(allocation.usableSize)
  junkOnFree(pointer, allocation)
  return allocation
}

/// Frees the old block of a realloc or rallocx that moved it, `old` its
/// lookup: a large block of reallocPurgeMinBytes or more goes back to its
/// arena with its pages purged (arenaFreeLargePurged says why); any other,
/// and any under secure:true (whose frees go through the quarantine) or
/// junk:free (whose freed blocks read 0x5a, not zero), as free (or
/// dallocx's uncached free) would.
func freeMovedBlock(_ pointer: UnsafeMutableRawPointer, _ old: Allocation, uncached: Bool,
                    cache: UnsafeMutablePointer<Tcache>? = nil) {
  if case .large(let arena, _, _) = old, !config.opt.secure, !config.opt.junkFree {
    let usable = old.usableSize
    if usable >= reallocPurgeMinBytes {
      // Its sample leaves the profile first, as every free's does: once
      // the run is free, another thread may take its record, sampled or
      // not (after it, a sample was left behind now and then: the heap
      // profile of tests/prof's site_realloc counted an old size of the
      // block as live, 1 run in 6). Should the purge fail, the plain free
      // below finds no sample.
      profOnFree(old)
      if arenaFreeLargePurged(arena, address: UInt(bitPattern: pointer), bytes: usable) {
        threadCountDeallocated(usable)
        return
      }
    }
  }
  if uncached {
    freeUncached(pointer)
  } else if let cache {
    freeExplicit(pointer, cache)
  } else {
    swallocFree(pointer)
  }
}

/// The smallest large block whose pages a moving realloc purges: 1 MiB.
/// The rule is for the peak of a program whose buffer grows into fresh
/// pages while its old copies stay resident (arenaFreeLargePurged), and
/// the blocks that set those peaks were the big ones: bench realloc-grow
/// (arrays to 4 MiB) and sqlite3 (its sorter array doubling to 2 MiB) kept
/// the same peak RSS with 1 MiB as with 128 KiB, the classes above the
/// default tcache_max, the bound before (6132 and 24856 KiB, address
/// randomization off); with 2 MiB sqlite3's rose to 25708. Below it the
/// purge cost page faults for nothing: CPython building its JSON text in
/// 160-650 KiB steps had its vacated runs taken again within milliseconds
/// and faulted them in afresh, bench python3 26.5K -> 21.2K page faults
/// (`perf stat -e page-faults`; mimalloc 2: 16.6K), its peak the same.
let reallocPurgeMinBytes: UInt = 1 << 20

/// Returns a block to its arena (or unmaps/caches a huge one), no tcache.
private func freeToArena(_ pointer: UnsafeMutableRawPointer, _ allocation: Allocation) {
  switch allocation {
  case .huge(let record):
    hugeFree(record)
  case .small(let arena, let slab, let sizeClass):
    let bin = arena.pointee.bins + sizeClass
    mutexLock(&bin.pointee.lock)
    binFreeLocked(arena, bin, slab, address: UInt(bitPattern: pointer))
    mutexUnlock(&bin.pointee.lock)
    statsDeallocated(bootedClassSize(sizeClass))
  case .large(let arena, _, _):
    arenaFreeLarge(arena, address: UInt(bitPattern: pointer), fromThreadCache: false)
  }
}

@inline(never)
func freeSlow(_ pointer: UnsafeMutableRawPointer?) {
  guard let pointer else { return }   // free(NULL), sent here by the fast path
  if freeLargeToCache(pointer) { return }
  freeFull(pointer)
}

/// Every free the thread cache's fast path and shortcut did not take: the
/// full lookup, then the cache, the quarantine or the arena. Kept out of
/// freeSlow so that the shortcut's path saves no registers for it.
@inline(never)
func freeFull(_ pointer: UnsafeMutableRawPointer) {
  defer { backgroundThreadMaybeStart() }
  let allocation = freeLookup(pointer, "free")
  if config.opt.secure, let t = tsdFetchTcache() {
    switch allocation {
    case .small(let arena, let slab, let sizeClass):
      slabCheckAllocated(arena, slab, sizeClass, address: UInt(bitPattern: pointer))
      if quarantineFree(t, pointer, allocation) { return }
    case .large:
      if quarantineFree(t, pointer, allocation) { return }
    case .huge:
      break
    }
    freeToArena(pointer, allocation)
    return
  }
  switch allocation {
  case .small(_, _, let sizeClass) where sizeClass < config.tcacheClassCount:
    // The free that makes the thread's cache (its first call) returns its
    // block to the arena instead: a thread that has allocated nothing is
    // freeing a block another thread made and handed over, whose cache
    // line that thread's other blocks share; kept, it would be the
    // block this thread's next malloc of the class gets, and both threads'
    // writes would move the line between their cores (Hoard's passive
    // false sharing, bench cache-scratch). One locked free per thread.
    let first = currentTcache() == nil
    if let t = tsdFetchTcache(), !first, cacheTake(t, pointer, allocation) { return }
  case .large(_, _, let sizeClass) where sizeClass < config.tcacheClassCount:
    if let t = tsdFetchTcache(), cacheTake(t, pointer, allocation) { return }
  default:
    break
  }
  uncachedNoteFree()
  freeToArena(pointer, allocation)
}

/// Cache `t` (the thread's, or an explicit one) takes a block of a class
/// it holds, as freeFull and freeExplicit both need; false for any other
/// block (an uncached class, or huge), which goes to its arena.
@inline(__always)
private func cacheTake(_ t: UnsafeMutablePointer<Tcache>, _ pointer: UnsafeMutableRawPointer,
                       _ allocation: Allocation) -> Bool {
  switch allocation {
  case .small(let arena, _, let sizeClass) where sizeClass < config.tcacheClassCount:
    if arena == t.pointee.arena || !tcacheKeepsForeign(sizeClass) {
      cacheFree(t, pointer, sizeClass)
    } else {
      cacheFreeForeign(t, pointer, sizeClass)
    }
    return true
  case .large(_, _, let sizeClass) where sizeClass < config.tcacheClassCount:
    // Every free of a large block comes here (its fast-path stack never
    // has room), so the run is marked while it sits in the cache: a
    // second free of it, by any thread, fails lookupAllocation.
    largeSetCached(UInt(bitPattern: pointer), true)
    cacheFree(t, pointer, sizeClass)
    return true
  default:
    return false
  }
}

/// dallocx / sdallocx / rallocx with MALLOCX_TCACHE(tc): freeLookup, then
/// explicit cache `t` takes the block as a thread's cache would
/// (cacheTake; a block of a class it does not hold goes back to its
/// arena). Not under secure:true, junk or zero (explicitCacheNamed).
func freeExplicit(_ pointer: UnsafeMutableRawPointer, _ t: UnsafeMutablePointer<Tcache>) {
  let allocation = freeLookup(pointer, "dallocx")
  if !cacheTake(t, pointer, allocation) { freeToArena(pointer, allocation) }
}

/// Pushes onto the thread's cache; a full stack grows or flushes its older
/// half first (tcacheOverflow).
private func cacheFree(_ t: UnsafeMutablePointer<Tcache>, _ pointer: UnsafeMutableRawPointer, _ sizeClass: Int) {
  let bin = tcacheBin(t, sizeClass)
  let head = bin.pointee.head
  if head != bin.pointee.end && head.pointee == pointer {
    fatal("free(): double free detected (the block is already in the thread cache)")
  }
  if bin.push(pointer, floor: bin.localFloor(sizeClass: sizeClass)) { return }
  tcacheOverflow(t, sizeClass: sizeClass)
  let pushed = bin.push(pointer, floor: bin.localFloor(sizeClass: sizeClass))
  invariant(pushed, "a thread-cache stack has no room after its overflow")
  tcacheEvent(t)
}

/// cacheFree for a small block of another arena (freeOtherArena's rule).
private func cacheFreeForeign(_ t: UnsafeMutablePointer<Tcache>, _ pointer: UnsafeMutableRawPointer, _ sizeClass: Int) {
  let bin = tcacheBin(t, sizeClass)
  if bin.foreignCount(sizeClass: sizeClass) > 0 && (bin.pointee.fastLimit - 1).pointee == pointer {
    fatal("free(): double free detected (the block is already in the thread cache)")
  }
  // (freeFull counted the bytes.)
  if !bin.pushForeign(pointer) { foreignStackFull(pointer, bin: bin, t, sizeClass: sizeClass) }
}

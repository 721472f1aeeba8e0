// The C API entry points, exported under swalloc_ names; the C layer
// (lib/exports.c and the link step) gives them their standard names.
// Semantics follow glibc's (README.md, "API").

import CSwallocPlatform

// MARK: Fast paths

@_cdecl("swalloc_malloc")
public func swallocMalloc(_ size: UInt) -> UnsafeMutableRawPointer? {
  // popCounted() spelled out: `if let p = ...popCounted()` would test the
  // popped pointer for nil too (two more instructions on every malloc).
  if size <= mallocFastMax, let t = currentTcache() {
    let bin = tcacheBin(t, Int(sizeLookupTable[Int((size &+ 15) >> 4)]))
    let head = bin.pointee.head
    if head != bin.pointee.end {
      bin.pointee.head = head + 1
      bin.pointee.allocs &+= 1
      return head.pointee
    }
  }
  return mallocSlow(size)
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
  let rounded = (max(size, 1) &+ alignment &- 1) & ~(alignment &- 1)
  guard let t = currentTcache() else { return nil }
  let sizeClass: Int
  if rounded <= lookupMaxSize {
    sizeClass = Int(sizeLookupTable[Int((rounded &+ 15) >> 4)])
  } else {
    if rounded > largeMaxClass { return nil }
    sizeClass = classIndexFor(rounded)   // uncached classes have empty stacks
    if sizeClass >= smallClassCount {
      guard let p = tcacheBin(t, sizeClass).popCounted() else { return nil }
      largeLeftThreadCache(p)
      return p
    }
  }
  return tcacheBin(t, sizeClass).popCounted()
}

/// A large run taken back out of a thread cache is live again.
@inline(__always)
func largeLeftThreadCache(_ p: UnsafeMutableRawPointer) {
  pageEntryExtent(pageEntry(UInt(bitPattern: p))).unsafelyUnwrapped.pointee.inThreadCache = false
}

@_cdecl("swalloc_free")
public func swallocFree(_ pointer: UnsafeMutableRawPointer?) {
  guard let pointer else { return }
  if let t = currentTcache() {
    let address = UInt(bitPattern: pointer)
    // Addresses above 48 bits would alias lower ones in the radix map: they
    // go to the slow path (which rejects them). Below, the root index needs
    // no mask. An arena chunk's leaf entry is its ChunkMeta | 1.
    if address >> addressBits == 0,
       case let leaf = pageMapRoot[Int(address &>> rootShift)][Int((address &>> chunkShift) & UInt(leafEntries &- 1))],
       leaf & pageMapArenaChunkTag != 0 {
      let pageMap = UnsafePointer<UInt>(bitPattern: leaf &+ UInt(chunkMetaPageMapOffset &- 1)).unsafelyUnwrapped
      let classCode = pageMap[Int(pageIndexInChunk(address))] >> pageEntryClassShift
      // Code 0 (no allocation starts here) and uncached classes have
      // zero-capacity stacks: they fail the room check.
      let bin = tcacheBin(forCode: Int(bitPattern: classCode), t)
      let head = bin.pointee.head
      // Room left, and not the block freed last (an immediate double free
      // goes to the slow path, which reports it). An empty stack's *head is
      // the nil sentinel past its end. Large classes never have room here.
      if head > bin.pointee.fastLimit && head.pointee != pointer {
        let slot = head - 1
        slot.pointee = pointer
        bin.pointee.head = slot
        bin.pointee.frees &+= 1
        return
      }
    }
  }
  freeSlow(pointer)
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
  guard let t = currentTcache(), !largeFreeChecked else { return false }
  let address = UInt(bitPattern: pointer)
  guard let meta = arenaChunkMeta(address) else { return false }
  let entry = meta.pageMap[Int(pageIndexInChunk(address))]
  let code = entry >> pageEntryClassShift
  if code <= UInt(smallClassCount) || code > UInt(tcacheClassCount) { return false }
  guard let extent = pageEntryExtent(entry), extent.pointee.address == address,
        extent.pointee.state == .large, !extent.pointee.inThreadCache else { return false }
  let bin = tcacheBin(forCode: Int(code), t)
  let head = bin.pointee.head
  if head == bin.pointee.start || head.pointee == pointer { return false }
  extent.pointee.inThreadCache = true
  let slot = head - 1
  slot.pointee = pointer
  bin.pointee.head = slot
  bin.pointee.frees &+= 1   // thread.deallocated, as on the fast path
  return true
}

// MARK: Slow paths

@inline(never)
func mallocSlow(_ size: UInt) -> UnsafeMutableRawPointer? {
  // The cache hit for the classes above the lookup table (4 KiB up to
  // tcache_max): the class by arithmetic, then the fast path's pop.
  // (With prof:true only classes up to lookupMaxSize are cached: the
  // countdown below sees every other allocation.)
  if size > lookupMaxSize && size <= largeMaxClass, let p = cachedAlignedAlloc(size, alignment: quantum) {
    return p
  }
  if profRouting, let p = profMalloc(size) { return p }
  if !ensureBooted() { setErrno(ENOMEM); return nil }
  if size > largeMaxClass {
    if size > maxRequestSize { setErrno(ENOMEM); return nil }
    guard let p = hugeAlloc(size, alignment: 0) else { setErrno(ENOMEM); return nil }
    threadCountAllocated(roundUpToPage(size))
    return p
  }
  let sizeClass = classIndexFor(size)
  guard let p = allocateClass(sizeClass) else { return nil }
  threadCountAllocated(sizeClassSize(sizeClass))
  return p
}

/// Allocates one block of class `sizeClass`, through the thread's cache when
/// it has one. Sets ENOMEM on failure.
func allocateClass(_ sizeClass: Int) -> UnsafeMutableRawPointer? {
  var result: UnsafeMutableRawPointer? = nil
  if sizeClass < tcacheClassCount, let t = tsdFetchTcache() {
    if let p = tcacheBin(t, sizeClass).pop() {
      if sizeClass >= smallClassCount { largeLeftThreadCache(p) }
      return p
    }
    if sizeClass < smallClassCount {
      result = tcacheRefillAndPop(t, sizeClass: sizeClass)
    } else {
      tcacheBin(t, sizeClass).pointee.refilled = 1
      tcacheEvent(t)
      let arena = t.pointee.arena
      result = arenaAllocLarge(arena, sizeClass: sizeClass, alignment: pageSize, zero: false)
        ?? arenaFallback(excluding: arena) { arenaAllocLarge($0, sizeClass: sizeClass, alignment: pageSize, zero: false) }
    }
  } else {
    result = allocateUncached(sizeClass, alignment: 0, zero: false)
  }
  if result == nil { setErrno(ENOMEM) }
  backgroundThreadMaybeStart()
  return result
}

/// The thread's arena: its tcache's, or the fallback arena.
func threadArena() -> UnsafeMutablePointer<Arena> {
  if let t = tsdFetchTcache() { return t.pointee.arena }
  return fallbackArena()
}

/// Allocates straight from an arena (the thread's unless one is given),
/// bypassing the thread cache.
func allocateUncached(_ sizeClass: Int, alignment: UInt, zero: Bool,
                      arena chosen: UnsafeMutablePointer<Arena>? = nil) -> UnsafeMutableRawPointer? {
  let arena = chosen ?? threadArena()
  let zeroed = zero || optZero
  var p: UnsafeMutableRawPointer? = nil
  if sizeClass < smallClassCount {
    if binFill(arena, sizeClass: sizeClass, into: &p, want: 1) == 0 {
      // An arena named by the caller (MALLOCX_ARENA) is not substituted.
      if chosen != nil { return nil }
      p = arenaFallback(excluding: arena) { a -> UnsafeMutableRawPointer? in
        var q: UnsafeMutableRawPointer? = nil
        return binFill(a, sizeClass: sizeClass, into: &q, want: 1) == 0 ? nil : q
      }
      if p == nil { return nil }
    }
    if zeroed, let p { memset(p, 0, Int(sizeClassSize(sizeClass))) }
  } else {
    p = arenaAllocLarge(arena, sizeClass: sizeClass, alignment: alignment, zero: zeroed)
    if p == nil && chosen == nil {
      p = arenaFallback(excluding: arena) { arenaAllocLarge($0, sizeClass: sizeClass, alignment: alignment, zero: zeroed) }
    }
  }
  if optJunkAlloc && !zeroed, let p { memset(p, 0xa5, Int(sizeClassSize(sizeClass))) }
  return p
}

/// junk:free: fills a block about to be freed with 0x5a.
@inline(__always)
func junkOnFree(_ pointer: UnsafeMutableRawPointer, _ allocation: Allocation) {
  if optJunkFree { memset(pointer, 0x5a, Int(allocation.usableSize)) }
}

/// Frees straight to the owning arena, bypassing the thread cache
/// (dallocx with MALLOCX_TCACHE_NONE).
func freeUncached(_ pointer: UnsafeMutableRawPointer) {
  if !isBooted() { invalidPointer("free") }
  let allocation = lookupAllocation(pointer, "free")
  profOnFree(allocation)
  threadCountDeallocated(allocation.usableSize)
  junkOnFree(pointer, allocation)
  freeToArena(pointer, allocation)
}

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
    statsDeallocated(sizeClassSize(sizeClass))
  case .large(let arena, _, _):
    arenaFreeLarge(arena, address: UInt(bitPattern: pointer), fromThreadCache: false)
  }
}

@inline(never)
func freeSlow(_ pointer: UnsafeMutableRawPointer) {
  if freeLargeToCache(pointer) { return }
  if !isBooted() { invalidPointer("free") }
  defer { backgroundThreadMaybeStart() }
  let allocation = lookupAllocation(pointer, "free")
  profOnFree(allocation)
  threadCountDeallocated(allocation.usableSize)
  junkOnFree(pointer, allocation)
  if optSecure, let t = tsdFetchTcache() {
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
  case .small(_, _, let sizeClass):
    if sizeClass < tcacheClassCount, let t = tsdFetchTcache() {
      cacheFree(t, pointer, sizeClass)
      return
    }
  case .large(_, let extent, let sizeClass):
    if sizeClass < tcacheClassCount, let t = tsdFetchTcache() {
      // Every free of a large block comes here (its fast-path stack never
      // has room), so the run is marked while it sits in the cache: a
      // second free of it, by any thread, fails lookupAllocation.
      extent.pointee.inThreadCache = true
      cacheFree(t, pointer, sizeClass)
      return
    }
  case .huge:
    break
  }
  freeToArena(pointer, allocation)
}

/// Pushes onto the thread's cache, flushing the older half when it is full.
private func cacheFree(_ t: UnsafeMutablePointer<Tcache>, _ pointer: UnsafeMutableRawPointer, _ sizeClass: Int) {
  let bin = tcacheBin(t, sizeClass)
  let head = bin.pointee.head
  if head != bin.pointee.end && head.pointee == pointer {
    fatal("free(): double free detected (the block is already in the thread cache)")
  }
  if bin.push(pointer) { return }
  tcacheFlush(t, sizeClass: sizeClass, keep: Int(bin.pointee.capacity >> 1))
  _ = bin.push(pointer)
  tcacheEvent(t)
}

// MARK: Aligned and zeroed allocation

/// Allocates `size` bytes aligned to `alignment` (a power of two), zeroed
/// when asked, through the thread cache unless `uncached` or an explicit
/// `arena` (mallocx flags) says otherwise. Sets ENOMEM on failure.
func allocateAligned(_ size: UInt, alignment: UInt, zero: Bool, uncached: Bool = false,
                     arena: UnsafeMutablePointer<Arena>? = nil) -> UnsafeMutableRawPointer? {
  if profRouting {
    if profSampleNow(usableSizeFor(size, alignment: alignment)) {
      return profAllocSampled(size, alignment: alignment, zero: zero, arena: arena)
    }
    // Not sampled: the cache hit the fast path would have had.
    if !uncached && arena == nil && size <= largeMaxClass && alignment != 0 && alignment <= pageSize,
       let p = cachedAlignedAlloc(size, alignment: alignment) {
      if zero {
        let rounded = (max(size, 1) &+ alignment &- 1) & ~(alignment &- 1)
        memset(p, 0, Int(sizeClassSize(classIndexFor(rounded))))
      }
      return p
    }
  }
  guard let p = allocateAlignedBlock(size, alignment: alignment, zero: zero, uncached: uncached, arena: arena) else {
    return nil
  }
  threadCountAllocated(usableSizeFor(size, alignment: alignment))
  return p
}

private func allocateAlignedBlock(_ size: UInt, alignment: UInt, zero: Bool, uncached: Bool,
                                  arena: UnsafeMutablePointer<Arena>?) -> UnsafeMutableRawPointer? {
  if !ensureBooted() { setErrno(ENOMEM); return nil }
  let bypassCache = uncached || arena != nil
  var p: UnsafeMutableRawPointer? = nil
  switch placementFor(size, alignment: alignment) {
  case .impossible:
    break
  case .sizeClass(let sizeClass):
    if alignment > pageSize || bypassCache || (zero && sizeClass >= tcacheClassCount) {
      // Large runs start on page boundaries: only a larger alignment is
      // passed down.
      p = allocateUncached(sizeClass, alignment: max(alignment, pageSize), zero: zero, arena: arena)
    } else {
      p = allocateClass(sizeClass)
      // MALLOCX_ZERO and calloc clear the whole usable size (jemalloc's
      // rule; glibc's calloc does too): callers may use all of it.
      if zero, let p { memset(p, 0, Int(sizeClassSize(sizeClass))) }
    }
  case .huge(let request):
    p = hugeAlloc(request, alignment: alignment, zero: zero)
  }
  if p == nil { setErrno(ENOMEM) }
  return p
}

/// Where a request of `size` bytes at `alignment` (a power of two) is
/// served: the one rule allocation, nallocx and the sized frees share.
enum Placement: Equatable {
  /// A small or large size class (aligned regions in page-aligned slabs, or
  /// a run aligned within one chunk).
  case sizeClass(Int)
  /// A mapping of its own of at least `request` bytes.
  case huge(request: UInt)
  /// More than the address space allows.
  case impossible
}

func placementFor(_ size: UInt, alignment: UInt) -> Placement {
  if size > maxRequestSize { return .impossible }
  let request = size == 0 ? 1 : size
  if alignment <= pageSize {
    // A class that is a multiple of the alignment gives aligned regions in
    // page-aligned slabs; large runs start on page boundaries.
    let rounded = (request &+ alignment &- 1) & ~(alignment &- 1)
    if rounded <= largeMaxClass { return .sizeClass(classIndexFor(rounded)) }
  } else if request <= largeMaxClass {
    // A run aligned inside a chunk, when the worst-case offset fits.
    let sizeClass = classIndexFor(max(request, largeMinClass))
    let pages = sizeClassSize(sizeClass) >> pageShift
    if pages &+ (alignment >> pageShift) &- 1 <= chunkUsablePages { return .sizeClass(sizeClass) }
  }
  if request > maxRequestSize &- chunkSize { return .impossible }
  return .huge(request: request)
}

@inline(__always) func isPowerOfTwo(_ x: UInt) -> Bool { x != 0 && x & (x &- 1) == 0 }

/// The usable size allocateAligned gives for `size` and `alignment` (the
/// least a huge request can get; 0 when the request is impossible).
func usableSizeFor(_ size: UInt, alignment: UInt) -> UInt {
  switch placementFor(size, alignment: alignment) {
  case .sizeClass(let c): return sizeClassSize(c)
  case .huge(let request): return roundUpToPage(request)
  case .impossible: return 0
  }
}

/// jemalloc's sized-free rule: `size` at `alignment` names `allocation`
/// when a request of any size from the original one up to the usable size
/// would be placed like it: in its size class, or (huge) in a mapping of
/// its own that holds `size`.
func sizeNamesAllocation(_ size: UInt, alignment: UInt, _ allocation: Allocation) -> Bool {
  switch (placementFor(size, alignment: alignment), allocation) {
  case (.sizeClass(let c), .small(_, _, let have)):
    return c == have
  case (.sizeClass(let c), .large(_, let extent, let have)):
    // A sampled small request sits in a large run (Prof.swift).
    return c == have || c == profSampledClass(extent)
  case (.huge(let request), .huge):
    return roundUpToPage(request) <= allocation.usableSize
  default:
    return false
  }
}

// MARK: The rest of the API

@_cdecl("swalloc_calloc")
public func swallocCalloc(_ count: UInt, _ size: UInt) -> UnsafeMutableRawPointer? {
  let (total, overflow) = count.multipliedReportingOverflow(by: size)
  if overflow || total > maxRequestSize { setErrno(ENOMEM); return nil }
  if total <= alignedFastMax, let p = cachedAlignedAlloc(total, alignment: quantum) {
    // The whole usable size reads zero, as with glibc's and jemalloc's
    // calloc: a caller may use what malloc_usable_size reports.
    memset(p, 0, Int(sizeClassSize(classIndexFor(total))))
    return p
  }
  return allocateAligned(total, alignment: quantum, zero: true)
}

@_cdecl("swalloc_realloc")
public func swallocRealloc(_ pointer: UnsafeMutableRawPointer?, _ size: UInt) -> UnsafeMutableRawPointer? {
  guard let pointer else { return swallocMalloc(size) }
  if size == 0 {
    // glibc: realloc(p, 0) frees p and returns NULL.
    swallocFree(pointer)
    return nil
  }
  if size > maxRequestSize { setErrno(ENOMEM); return nil }
  if !isBooted() { invalidPointer("realloc") }
  // Fast path: the new size has the block's size class (a string growing
  // within its class): one page-map read, no full lookup.
  let address = UInt(bitPattern: pointer)
  // secure:true checks the block in full first (reallocSlow).
  if size <= largeMaxClass && !optSecure && isInArenaChunk(address) {
    let classCode = pageEntry(address) >> pageEntryClassShift
    if classCode != 0 && UInt(classIndexFor(size) &+ 1) == classCode
       && (classCode <= UInt(smallClassCount) || address & pageMask == 0) {
      return pointer
    }
  }
  return reallocSlow(pointer, size)
}

/// realloc when the size class changes: resize in place where possible,
/// else allocate, copy and free.
@inline(never)
func reallocSlow(_ pointer: UnsafeMutableRawPointer, _ size: UInt) -> UnsafeMutableRawPointer? {
  let old = lookupAllocation(pointer, "realloc")
  if optSecure, case .small(let arena, let slab, let sizeClass) = old {
    // A freed block: still in this thread's quarantine, or back in its slab.
    if let t = currentTcache(), quarantineHolds(t, UInt(bitPattern: pointer)) { invalidPointer("realloc") }
    slabCheckAllocated(arena, slab, sizeClass, address: UInt(bitPattern: pointer))
  }
  // Read now: a huge block's usable size changes when it is resized.
  let oldUsable = old.usableSize
  switch old {
  case .small(_, _, let c):
    if size <= largeMaxClass && classIndexFor(size) == c { return pointer }
  case .large(let arena, let extent, let c):
    // A sampled block is moved (its sample keeps the size it was taken at).
    if size <= largeMaxClass && extent.pointee.profSample == nil {
      let newClass = classIndexFor(size)
      if newClass == c { return pointer }
      if newClass >= smallClassCount && arenaResizeLargeInPlace(arena, extent, newClass: newClass) {
        threadCountResize(from: oldUsable, to: sizeClassSize(newClass))
        return pointer
      }
    }
  case .huge(let record):
    if size > largeMaxClass && record.pointee.profSample == nil {
      if size <= oldUsable && size > oldUsable / 2 { return pointer }
      if hugeResizeInPlace(record, newSize: size) {
        threadCountResize(from: oldUsable, to: record.pointee.pages << pageShift)
        return pointer
      }
      if size > oldUsable, let moved = hugeGrowByRemap(record, newSize: size) {
        threadCountResize(from: oldUsable, to: record.pointee.pages << pageShift)
        return moved
      }
    }
  }
  guard let fresh = swallocMalloc(size) else { return nil }
  memcpy(fresh, pointer, Int(min(size, oldUsable)))
  swallocFree(pointer)
  return fresh
}

@_cdecl("swalloc_reallocarray")
public func swallocReallocarray(_ pointer: UnsafeMutableRawPointer?, _ count: UInt, _ size: UInt) -> UnsafeMutableRawPointer? {
  let (total, overflow) = count.multipliedReportingOverflow(by: size)
  if overflow || total > maxRequestSize { setErrno(ENOMEM); return nil }
  return swallocRealloc(pointer, total)
}

@_cdecl("swalloc_posix_memalign")
public func swallocPosixMemalign(_ result: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ alignment: UInt, _ size: UInt) -> Int32 {
  if !isPowerOfTwo(alignment) || alignment < UInt(MemoryLayout<UnsafeRawPointer>.size) { return EINVAL }
  if size <= alignedFastMax && alignment <= pageSize, let p = cachedAlignedAlloc(size, alignment: alignment) {
    result.pointee = p
    return 0
  }
  let saved = swalloc_errno()
  let p = allocateAligned(size, alignment: max(alignment, quantum), zero: false)
  swalloc_set_errno(saved)
  guard let p else { return ENOMEM }
  result.pointee = p
  return 0
}

@_cdecl("swalloc_aligned_alloc")
public func swallocAlignedAlloc(_ alignment: UInt, _ size: UInt) -> UnsafeMutableRawPointer? {
  // As glibc 2.38+: an alignment that is not a power of two is EINVAL.
  if !isPowerOfTwo(alignment) { setErrno(EINVAL); return nil }
  if size <= alignedFastMax && alignment <= pageSize, let p = cachedAlignedAlloc(size, alignment: alignment) {
    return p
  }
  return allocateAligned(size, alignment: max(alignment, quantum), zero: false)
}

@_cdecl("swalloc_memalign")
public func swallocMemalign(_ alignment: UInt, _ size: UInt) -> UnsafeMutableRawPointer? {
  // glibc rounds a non-power-of-two alignment up to the next power of two.
  var a = max(alignment, quantum)
  if !isPowerOfTwo(a) {
    if a > (UInt(1) << 63) { setErrno(EINVAL); return nil }
    a = UInt(1) << UInt(64 &- (a &- 1).leadingZeroBitCount)
  }
  if size <= alignedFastMax && a <= pageSize, let p = cachedAlignedAlloc(size, alignment: a) { return p }
  return allocateAligned(size, alignment: a, zero: false)
}

@_cdecl("swalloc_valloc")
public func swallocValloc(_ size: UInt) -> UnsafeMutableRawPointer? {
  if !ensureBooted() { setErrno(ENOMEM); return nil }
  return allocateAligned(size, alignment: pageSize, zero: false)
}

@_cdecl("swalloc_pvalloc")
public func swallocPvalloc(_ size: UInt) -> UnsafeMutableRawPointer? {
  if !ensureBooted() { setErrno(ENOMEM); return nil }
  if size > maxRequestSize { setErrno(ENOMEM); return nil }
  let rounded = size == 0 ? pageSize : roundUpToPage(size)
  return allocateAligned(rounded, alignment: pageSize, zero: false)
}

@_cdecl("swalloc_malloc_usable_size")
public func swallocMallocUsableSize(_ pointer: UnsafeMutableRawPointer?) -> UInt {
  guard let pointer else { return 0 }
  if !isBooted() { invalidPointer("malloc_usable_size") }
  return lookupAllocation(pointer, "malloc_usable_size").usableSize
}

/// C23 free_sized: `size` must be the size the block was requested with
/// (or anything up to its usable size, jemalloc's rule). Another size
/// aborts: it means the caller's bookkeeping is corrupt.
@_cdecl("swalloc_free_sized")
public func swallocFreeSized(_ pointer: UnsafeMutableRawPointer?, _ size: UInt) {
  guard let pointer else { return }
  if !isBooted() { invalidPointer("free_sized") }
  if !sizeNamesAllocation(size, alignment: quantum, lookupAllocation(pointer, "free_sized")) {
    fatal("free_sized(): size does not match the allocation")
  }
  swallocFree(pointer)
}

/// C23 free_aligned_sized: the block must be aligned as claimed and `size`
/// at that alignment must name it (the sized-free rule), else abort.
@_cdecl("swalloc_free_aligned_sized")
public func swallocFreeAlignedSized(_ pointer: UnsafeMutableRawPointer?, _ alignment: UInt, _ size: UInt) {
  guard let pointer else { return }
  if !isBooted() { invalidPointer("free_aligned_sized") }
  let allocation = lookupAllocation(pointer, "free_aligned_sized")
  if !isPowerOfTwo(alignment) || UInt(bitPattern: pointer) & (alignment &- 1) != 0
    || !sizeNamesAllocation(size, alignment: max(alignment, quantum), allocation) {
    fatal("free_aligned_sized(): size or alignment does not match the allocation")
  }
  swallocFree(pointer)
}

/// glibc's malloc_trim: returns every page swalloc can give back now (the
/// caller's cached blocks, empty slabs, dirty and muzzy free pages, cached
/// huge mappings). `pad` is accepted and ignored. Returns 1 when memory was
/// released, else 0.
@_cdecl("swalloc_malloc_trim")
public func swallocMallocTrim(_ pad: UInt) -> Int32 {
  if !isBooted() { return 0 }
  flushThreadCache()
  let purged = purgeAllArenas()
  let unmapped = hugeCacheDrop(olderThanMs: -1)
  return purged || unmapped != 0 ? 1 : 0
}

@_cdecl("swalloc_mallinfo2")
public func swallocMallinfo2() -> swalloc_mallinfo2 { statsMallinfo2() }

/// glibc's legacy mallinfo: mallinfo2's figures truncated to int, as glibc
/// 2.33+ does.
@_cdecl("swalloc_mallinfo")
public func swallocMallinfo() -> swalloc_mallinfo {
  let m = statsMallinfo2()
  var legacy = swalloc_mallinfo()
  legacy.arena = Int32(truncatingIfNeeded: m.arena)
  legacy.ordblks = Int32(truncatingIfNeeded: m.ordblks)
  legacy.hblks = Int32(truncatingIfNeeded: m.hblks)
  legacy.hblkhd = Int32(truncatingIfNeeded: m.hblkhd)
  legacy.uordblks = Int32(truncatingIfNeeded: m.uordblks)
  legacy.fordblks = Int32(truncatingIfNeeded: m.fordblks)
  return legacy
}

/// glibc's mallopt: its tuning parameters (M_MMAP_THRESHOLD, M_ARENA_MAX,
/// ...) describe ptmalloc and have no meaning here (swalloc is tuned with
/// SWALLOC_CONF). Accepted and ignored; returns 1 (success) as glibc does
/// for any parameter it does not reject.
@_cdecl("swalloc_mallopt")
public func swallocMallopt(_ parameter: Int32, _ value: Int32) -> Int32 { 1 }

/// jemalloc's malloc_stats_print: the statistics report in NUL-terminated
/// pieces to `writeCallback(opaque, piece)`, or to stderr (the stats_fd
/// descriptor) when it is NULL. `opts` containing 'J' gives the JSON form;
/// jemalloc's letters that omit sections are accepted and ignored.
@_cdecl("swalloc_malloc_stats_print")
public func swallocMallocStatsPrint(_ writeCallback: StatsWriteCallback?, _ opaque: UnsafeMutableRawPointer?,
                                    _ opts: UnsafePointer<CChar>?) {
  if !ensureBooted() { return }
  var json = false
  if let opts {
    var i = 0
    while opts[i] != 0 { if opts[i] == 74 { json = true }; i &+= 1 }   // 'J'
  }
  statsPrint(json: json, to: writeCallback, context: opaque)
}

/// glibc's malloc_info: the statistics as glibc's XML on `stream` (see
/// statsPrintXML for what each element holds). Returns 0, or -1 with EINVAL
/// when `options` is not 0 (glibc defines none).
@_cdecl("swalloc_malloc_info")
public func swallocMallocInfo(_ options: Int32, _ stream: UnsafeMutablePointer<FILE>?) -> Int32 {
  guard options == 0, let stream else { setErrno(EINVAL); return -1 }
  statsPrintXML(to: { file, piece in
    guard let file, let piece else { return }
    _ = fputs(piece, file.assumingMemoryBound(to: FILE.self))
  }, context: UnsafeMutableRawPointer(stream))
  return 0
}

@_cdecl("swalloc_malloc_stats")
public func swallocMallocStats() {
  statsPrint()
}

// MARK: Hooks called by the C layer (not exported from the library)

@_cdecl("swalloc_internal_boot")
public func swallocInternalBoot() { _ = ensureBooted() }

@_cdecl("swalloc_internal_constructor_done")
public func swallocInternalConstructorDone() {
  markConstructorFinished()
  profPrime()
}

@_cdecl("swalloc_internal_exit")
public func swallocInternalExit() {
  if isBooted() && optStatsPrint { statsPrint() }
  if isBooted() { profAtExit() }
}

@_cdecl("swalloc_internal_prefork")
public func swallocInternalPrefork() { forkPrepare() }

@_cdecl("swalloc_internal_postfork_parent")
public func swallocInternalPostforkParent() { forkParent() }

@_cdecl("swalloc_internal_postfork_child")
public func swallocInternalPostforkChild() { forkChild() }

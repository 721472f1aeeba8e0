// The rest of the C API with glibc's semantics (README.md, "API"): calloc,
// realloc, the aligned functions, malloc_usable_size, the sized frees,
// malloc_trim and the statistics entry points.

import CSwallocPlatform
import Synchronization

// MARK: The rest of the API

@_cdecl("swalloc_calloc")
public func swallocCalloc(_ count: UInt, _ size: UInt) -> UnsafeMutableRawPointer? {
  let (total, overflow) = count.multipliedReportingOverflow(by: size)
  // The malloc fast path's pop, then the region cleared: every size here
  // is a small class, whose regions are its size (codeSizes, by code).
  if total <= lookupMaxSize && !overflow {
    let offset = sizeBinOffset(total)
    let bin = fastPathBin(atOffset: offset)
    let head = bin.pointee.head
    if head != bin.pointee.end {
      let left = bin.pointee.countdown &- 1
      bin.pointee.countdown = left
      if left != 0 {
        bin.pointee.head = head + 1
        // The whole usable size reads zero, as with glibc's and jemalloc's
        // calloc: a caller may use what malloc_usable_size reports.
        return zeroRegion(head.pointee.unsafelyUnwrapped, Int(codeSizes[offset >> tcacheBinShift]))
      }
      return callocCountdownEvent(total)
    }
  }
  return callocSlow(total, overflow: overflow)
}

/// The calloc fast path's pop took its class's countdown to 0 (see
/// mallocCountdownEvent): the pop made uncounted, or a sample due. Out of
/// line, so that the fast path makes no call but tail calls and saves no
/// register.
@inline(never)
private func callocCountdownEvent(_ total: UInt) -> UnsafeMutableRawPointer? {
  let code = sizeCode(total)
  if let p = tcacheCountdownPop(fastPathBins() + code, sizeClass: code &- 1) {
    return zeroRegion(p, Int(config.binInfos[code &- 1].regionSize))
  }
  return allocateAligned(total, alignment: quantum, zero: true)
}

/// Clears a region of `size` bytes (a small class's size: a multiple of
/// 16) and returns it. Up to 64 bytes with a few 16-byte stores, which may
/// overlap, in place of a call to memset (calloc(1, 32) + free: 97 -> 87
/// instructions, scripts/fastpath-instructions.sh; malloc(32), memset and
/// free: 77). Above, memset in tail position (it returns its first
/// argument), so the caller keeps no register alive across the call; the
/// result is optional so that memset's is passed on unchecked, which keeps
/// it a tail call.
@inline(__always)
func zeroRegion(_ p: UnsafeMutableRawPointer, _ size: Int) -> UnsafeMutableRawPointer? {
  if size > 64 { return memset(p, 0, size) }
  let zero = SIMD2<UInt64>()
  if size >= 32 {
    p.storeBytes(of: zero, as: SIMD2<UInt64>.self)
    (p + 16).storeBytes(of: zero, as: SIMD2<UInt64>.self)
    (p + (size &- 32)).storeBytes(of: zero, as: SIMD2<UInt64>.self)
    (p + (size &- 16)).storeBytes(of: zero, as: SIMD2<UInt64>.self)
  } else {
    p.storeBytes(of: zero, as: SIMD2<UInt64>.self)
  }
  return p
}

@inline(never)
private func callocSlow(_ total: UInt, overflow: Bool) -> UnsafeMutableRawPointer? {
  if overflow || total > maxRequestSize { setErrno(ENOMEM); return nil }
  if total <= largeMaxClass, let p = cachedAlignedAlloc(total, alignment: quantum) {
    // The whole usable size reads zero, as with glibc's and jemalloc's
    // calloc: a caller may use what malloc_usable_size reports.
    memset(p, 0, Int(sizeClassSize(classIndexFor(total))))
    return p
  }
  return allocateAligned(total, alignment: quantum, zero: true)
}

@_cdecl("swalloc_realloc")
public func swallocRealloc(_ pointer: UnsafeMutableRawPointer?, _ size: UInt) -> UnsafeMutableRawPointer? {
  // The fast path: the block already has room, so it stays where it is: a
  // block of an arena chunk whose size class is the class of `size` (a
  // string growing within its class), or a huge block whose mapping holds
  // `size` and no more than twice it (reallocSlow's rule). One radix read,
  // as free's fast path makes it, and no other test first: a null
  // pointer, size 0, a size no class has, a pointer swalloc does not know
  // and an allocator not booted yet (the radix map is empty) all fail the
  // tests below and meet their outcome in reallocRest. secure:true checks
  // every block in full (reallocSlow). The tests that came first (null,
  // size 0, the size limit, boot) cost 13 instructions a call: `wl
  // realloc-grow 1 0.1` (strings grown a byte a call, arrays eight bytes
  // a call, past 2 MiB) 301.8M -> 242.5M instructions, CPU time (scale 1,
  // medians of 11) 0.244 -> 0.208 s; scripts/fastpath-instructions.sh:
  // malloc(100), realloc to 112, free 125 -> 109, malloc(24), realloc to
  // 40, free 190 -> 175. A huge array's calls within its mapping skipped
  // the full lookup too.
  // The radix entry through the hot leaf, as swallocFree reads it; an
  // address under another root entry takes reallocAnyRoot's walk.
  let address = unsafeBitCast(pointer, to: UInt.self)
  let hotLeaf = pageMapHotLeaf()
  if address &>> rootShift == pageMapHotIndex() && !config.opt.secure {
    let leaf = pageMapSlot(hotLeaf, pageMapLeafIndex(address))
    return reallocWithEntry(pointer, size, address: address, leaf: leaf)
  }
  return reallocAnyRoot(pointer, size)
}

/// realloc's fast path for an address outside the hot leaf's 512 GiB (or
/// with secure:true, which reallocRest sends to reallocSlow).
@inline(never)
private func reallocAnyRoot(_ pointer: UnsafeMutableRawPointer?, _ size: UInt) -> UnsafeMutableRawPointer? {
  let address = unsafeBitCast(pointer, to: UInt.self)
  // (The radix read as freeAnyRoot makes it: pageMapLookup's masked root
  // index and separate zero test cost one instruction more a call, +1.2%
  // on realloc-grow.)
  let rootIndex = address &>> rootShift
  if rootIndex < UInt(rootEntries) && !config.opt.secure {
    return reallocWithEntry(pointer, size, address: address,
                            leaf: pageMapSlot(forAddress: address, rootIndex: rootIndex))
  }
  return reallocRest(pointer, size)
}

/// The rest of realloc's fast path, given the block's radix entry `leaf`.
@inline(__always)
private func reallocWithEntry(_ pointer: UnsafeMutableRawPointer?, _ size: UInt,
                              address: UInt, leaf: UInt) -> UnsafeMutableRawPointer? {
  if leaf & pageMapArenaChunkTag != 0 {
    let pageMap = UnsafePointer<UInt>(bitPattern: leaf &+ UInt(chunkMetaPageMapOffset &- 1)).unsafelyUnwrapped
    let classCode = pageMap[Int(pageIndexInChunk(address))] >> pageEntryClassShift
    // (From the page map, not the bin map free's fast path reads: the
    // bin map's stack offset, code << 6, cost two instructions more here,
    // the compiler keeping both the offset and the code.)
    // (Whether a small block's address starts a region is not checked
    // here, as the free fast path does not: realloc(p + 16) of a small
    // block is one of the gaps secure:true closes, README "Misuse". With
    // the check (from the page-map entry, slabEntryRegionIndex), bench
    // realloc-grow ran 0.210 -> 0.240 s, +23 instructions a call. The full
    // path, lookupAllocation, checks it.)
    // Same class: at most the class's size and more than the class
    // below's (tcmalloc's test), rather than classifying `size`, whose
    // branch on the table's limit (4 KiB then) was mispredicted for blocks
    // on either side of it (bench realloc-grow: strings of 64 B..8 KiB).
    // Code 0 (no allocation starts here) has size 0, which fails, and so
    // does size 0 (never above the class below's size).
    let code = Int(classCode & UInt(codeSizeEntries &- 1))
    // And a small class, or else the first page of a large run: as one
    // value, not two branches. The compiler tested the page offset first,
    // and whether a block of 2 KiB and more starts a page is a coin toss
    // (2048-byte regions: every other one): that branch was mispredicted
    // in a quarter of bench realloc-grow's calls (callgrind --branch-sim,
    // `wl realloc-grow 1 0.1`: 650,357 of 2,727,575).
    let notSmall = (UInt(bitPattern: config.smallClassCount) &- classCode) >> 63   // 1: not a small class
    let midPage = ((address & pageMask) &+ pageMask) >> pageShift                  // 1: not a page's start
    if size <= UInt(codeSizes[code]) && size > UInt(codeSizes[(code &- 1) & (codeSizeEntries &- 1)])
       && notSmall & midPage == 0 {
      return pointer
    }
    // A small block moving to another small class (a string growing past
    // its class), size 0 left to reallocRest: the fast paths' malloc and
    // free around the copy, with the checks reallocSlow's
    // lookupAllocation makes for a small block (an arena chunk's slab
    // page). The slab record is not read: another thread may be updating
    // it under its bin's lock.
    if classCode != 0 && classCode <= UInt(bitPattern: config.smallClassCount) && size &- 1 < lookupMaxSize {
      return reallocSmallMove(pointer.unsafelyUnwrapped, size, oldCode: Int(classCode))
    }
  } else if leaf != 0 {
    // A huge block's record (an untagged radix entry), which must be
    // the block's: reallocSlow's rule.
    let record = UnsafeMutablePointer<Extent>(bitPattern: leaf).unsafelyUnwrapped
    if record.pointee.address == address && size > largeMaxClass
       && hugeKeepsPlace(size, usable: record.pointee.pages << pageShift) {
      return pointer
    }
  }
  return reallocRest(pointer, size)
}

/// Whether a huge block of `usable` bytes stays as it is for a realloc to
/// `size` (above largeMaxClass): the size fits, and uses more than half.
@inline(__always)
private func hugeKeepsPlace(_ size: UInt, usable: UInt) -> Bool {
  size <= usable && size > usable >> 1
}

/// realloc calls with a pointer and size 0 (stats.zero_reallocs).
let zeroReallocCount = Atomic<UInt>(0)

/// Every realloc the fast path did not take: a null pointer or size 0, a
/// size no allocation can have, and the rest (reallocSlow).
@inline(never)
private func reallocRest(_ pointer: UnsafeMutableRawPointer?, _ size: UInt) -> UnsafeMutableRawPointer? {
  guard let pointer else { return swallocMalloc(size) }
  var size = size
  if size == 0 {
    zeroReallocCount.add(1, ordering: .relaxed)
    switch config.opt.zeroRealloc {
    case .free:
      // glibc (and jemalloc's default): realloc(p, 0) frees p, returns NULL.
      swallocFree(pointer)
      return nil
    case .alloc:
      // zero_realloc:alloc: a block of the smallest class, as realloc(p, 1).
      size = 1
    case .abort:
      fatal("realloc(): size 0 (zero_realloc:abort)")
    }
  }
  if size > maxRequestSize { setErrno(ENOMEM); return nil }
  if !isBooted() { invalidPointer("realloc") }
  return reallocSlow(pointer, size)
}

/// realloc's move between two small classes, out of line: inlined, its
/// calls made swallocRealloc save registers on every call, the same-class
/// case included (bench realloc-grow: +5 instructions a call, 20% slower).
/// The copy takes whole 16-byte units (every region is a multiple of 16
/// bytes), inline up to 64 bytes; the old block goes straight onto its
/// class's stack when there is room, as the free fast path would put it,
/// without walking the page map again (malloc(24), realloc to 40, free:
/// 210 -> 195 instructions).
@inline(never)
private func reallocSmallMove(_ pointer: UnsafeMutableRawPointer, _ size: UInt, oldCode: Int) -> UnsafeMutableRawPointer? {
  guard let fresh = swallocMalloc(size) else { return nil }
  let oldSize = Int(config.binInfos[oldCode &- 1].regionSize)
  // Every class is a multiple of 16 bytes: the new block holds at least
  // `size` rounded up to 16.
  copyRegion(from: pointer, to: fresh, min(oldSize, Int((size &+ 15) & ~15)))
  if !(fastPathBins() + oldCode).fastPush(pointer, address: UInt(bitPattern: pointer)) { swallocFree(pointer) }
  return fresh
}

/// Copies `count` bytes (a multiple of 16) between two regions that are
/// both at least that large: up to 64 bytes with 16-byte moves that may
/// overlap (all loads before the stores), else memcpy.
@inline(__always)
private func copyRegion(from source: UnsafeMutableRawPointer, to target: UnsafeMutableRawPointer, _ count: Int) {
  typealias Unit = SIMD2<UInt64>
  if count > 64 {
    memcpy(target, source, count)
  } else if count >= 32 {
    let a = source.loadUnaligned(as: Unit.self)
    let b = (source + 16).loadUnaligned(as: Unit.self)
    let c = (source + (count &- 32)).loadUnaligned(as: Unit.self)
    let d = (source + (count &- 16)).loadUnaligned(as: Unit.self)
    target.storeBytes(of: a, as: Unit.self)
    (target + 16).storeBytes(of: b, as: Unit.self)
    (target + (count &- 32)).storeBytes(of: c, as: Unit.self)
    (target + (count &- 16)).storeBytes(of: d, as: Unit.self)
  } else {
    target.storeBytes(of: source.loadUnaligned(as: Unit.self), as: Unit.self)
  }
}

/// realloc when the size class changes: resize in place where possible,
/// else allocate, copy and free.
@inline(never)
func reallocSlow(_ pointer: UnsafeMutableRawPointer, _ size: UInt) -> UnsafeMutableRawPointer? {
  let old = lookupAllocation(pointer, "realloc")
  if config.opt.secure, case .small(let arena, let slab, let sizeClass) = old {
    // A freed block: still in this thread's quarantine, or back in its slab.
    if let t = currentTcache(), quarantineHolds(t, UInt(bitPattern: pointer)) { invalidPointer("realloc") }
    slabCheckAllocated(arena, slab, sizeClass, address: UInt(bitPattern: pointer))
  }
  // Read now: a huge block's usable size changes when it is resized.
  let oldUsable = old.usableSize
  switch old {
  case .small(_, _, let c):
    if size <= largeMaxClass && classIndexFor(size) == c { return pointer }
  case .large(let arena, let extent, _):
    // The bytes it keeps: a block that grows gets its class's whole size
    // (a run sized to its request, largeRunBytes, would otherwise move or
    // take the lock every page of an array grown a few bytes a call); one
    // that shrinks, what a new block of that size would get.
    // A block sampled by the heap profiler moves when its size does not
    // change its run (a new allocation, sampled or not); resized in
    // place, it is sampled anew (profResizedInPlace).
    if size <= largeMaxClass {
      let newClass = classIndexFor(size)
      let bytes = size > oldUsable ? bootedClassSize(newClass) : largeRunBytes(request: size, sizeClass: newClass)
      if bytes == oldUsable && extent.pointee.profSample == nil { return pointer }
      if newClass >= config.smallClassCount && bytes != oldUsable
         && arenaResizeLargeInPlace(arena, extent, newClass: newClass, bytes: bytes) {
        threadCountResize(from: oldUsable, to: bytes)
        if extent.pointee.profSample != nil { profResizedInPlace(extent, usize: bytes) }
        return pointer
      }
      if size > oldUsable && newClass >= config.pageRunFirstClass && !profActive {
        guard let fresh = allocateUncached(newClass, request: bytes, alignment: 0, zero: false) else {
          setErrno(ENOMEM)
          return nil
        }
        threadCountAllocated(bytes)
        memcpy(fresh, pointer, Int(oldUsable))
        freeMovedBlock(pointer, old, uncached: false)
        return fresh
      }
    }
  case .huge(let record):
    if size > largeMaxClass {
      if hugeKeepsPlace(size, usable: oldUsable) { return pointer }
      if hugeResizeInPlace(record, newSize: size) {
        threadCountResize(from: oldUsable, to: record.pointee.pages << pageShift)
        if record.pointee.profSample != nil { profResizedInPlace(record, usize: record.pointee.pages << pageShift) }
        return pointer
      }
      if size > oldUsable, let moved = hugeGrowByRemap(record, newSize: size) {
        threadCountResize(from: oldUsable, to: record.pointee.pages << pageShift)
        if record.pointee.profSample != nil { profResizedInPlace(record, usize: record.pointee.pages << pageShift) }
        return moved
      }
    }
  }
  guard let fresh = swallocMalloc(size) else { return nil }
  memcpy(fresh, pointer, Int(min(size, oldUsable)))
  freeMovedBlock(pointer, old, uncached: false)
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
  // A power of two from 8 (a pointer's size) to a page: the cache hit;
  // any other alignment, valid or not, goes to the slow path.
  if alignment &- 8 <= pageSize &- 8 && alignment & (alignment &- 1) == 0,
     let p = alignedFastPop(size, alignment: alignment) {
    result.pointee = p
    return 0
  }
  return posixMemalignSlow(result, alignment, size)
}

/// The aligned entry points' cache hit, in their own frames (no call but
/// the tail call to their slow paths, so no register is saved): malloc's
/// fast path on the size rounded up to the alignment (cachedAlignedAlloc
/// says why that is aligned), up to largeMaxClass. nil: the slow
/// path, which also takes the pop at a countdown event. The caller
/// guarantees a power-of-two alignment of at most a page. (posix_memalign
/// (64, 64) + free: 104 -> 90 instructions, with the alignment
/// test below.)
@inline(__always)
func alignedFastPop(_ size: UInt, alignment: UInt) -> UnsafeMutableRawPointer? {
  if size > largeMaxClass { return nil }
  // size 0 still gets a block of its own, aligned like any other.
  let rounded = alignedRequestSize(max(size, 1), alignment: alignment)
  if rounded > lookupMaxSize {
    return rounded <= largeMaxClass ? cachedPopAboveTable(rounded) : nil
  }
  return fastPathBin(atOffset: sizeBinOffset(rounded)).popBeforeEvent()
}

@inline(never)
private func posixMemalignSlow(_ result: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ alignment: UInt,
                               _ size: UInt) -> Int32 {
  if !isPowerOfTwo(alignment) || alignment < UInt(MemoryLayout<UnsafeRawPointer>.size) { return EINVAL }
  if size <= largeMaxClass && alignment <= pageSize, let p = cachedAlignedAlloc(size, alignment: alignment) {
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
  // A power of two up to a page: the cache hit; any other alignment, valid
  // or not, goes to the slow path.
  if alignment &- 1 < pageSize && alignment & (alignment &- 1) == 0,
     let p = alignedFastPop(size, alignment: alignment) {
    return p
  }
  return alignedAllocSlow(size, alignment: alignment)
}

/// aligned_alloc's and memalign's slow path.
@inline(never)
private func alignedAllocSlow(_ size: UInt, alignment: UInt) -> UnsafeMutableRawPointer? {
  // As glibc 2.38+: an alignment that is not a power of two is EINVAL
  // (memalign passes a power of two).
  if !isPowerOfTwo(alignment) { setErrno(EINVAL); return nil }
  if size <= largeMaxClass && alignment <= pageSize, let p = cachedAlignedAlloc(size, alignment: alignment) {
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
  if a <= pageSize, let p = alignedFastPop(size, alignment: a) { return p }
  return alignedAllocSlow(size, alignment: a)
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

/// A small block under the page map's hot leaf (nearly every call) is
/// answered by hotSmallBlockCode, the rest by usableSizeSlow. Why: programs
/// that count their heap with it call it at every malloc and free. Redis
/// does (zmalloc): 92 instructions a call through lookupAllocation, 48
/// now, 40 under its own jemalloc, which made a redis SET run 7% more
/// instructions than under jemalloc (callgrind, 50,000 SETs of 256 bytes).
@_cdecl("swalloc_malloc_usable_size") @_silgen_name("swalloc_internal_malloc_usable_size")
public func swallocMallocUsableSize(_ pointer: UnsafeMutableRawPointer?) -> UInt {
  let code = hotSmallBlockCode(unsafeBitCast(pointer, to: UInt.self))
  if code != 0 { return bootedClassSize(Int(bitPattern: code &- 1)) }
  return usableSizeSlow(pointer)
}

/// Whether a sized free of `pointer` with `size` (no alignment above the
/// quantum) is a plain free: a small block found by hotSmallBlockCode
/// whose class is the one a request of `size` gets (size 1 ... 15 KiB),
/// which is sizeNamesAllocation's rule for it. Else the caller checks on
/// its full path. malloc(32) + free_sized: 222 -> 128 instructions
/// (malloc(32) + free: 61); with sized frees as a speed feature (C23,
/// jemalloc's sdallocx), a check that cost three frees defeated the point.
@inline(__always)
func sizedFreeIsPlain(_ pointer: UnsafeMutableRawPointer?, _ size: UInt) -> Bool {
  size &- 1 < lookupMaxSize && hotSmallBlockCode(unsafeBitCast(pointer, to: UInt.self)) == UInt(bitPattern: sizeCode(size))
}

/// malloc_usable_size of NULL, of a large or huge block, of an address
/// outside the hot leaf, or of anything swalloc did not hand out (abort).
@inline(never)
private func usableSizeSlow(_ pointer: UnsafeMutableRawPointer?) -> UInt {
  guard let pointer else { return 0 }
  if !isBooted() { invalidPointer("malloc_usable_size") }
  return lookupAllocation(pointer, "malloc_usable_size").usableSize
}

/// C23 free_sized: `size` must be the size the block was requested with
/// (or anything up to its usable size, jemalloc's rule). Another size
/// aborts: it means the caller's bookkeeping is corrupt.
@_cdecl("swalloc_free_sized")
public func swallocFreeSized(_ pointer: UnsafeMutableRawPointer?, _ size: UInt) {
  if sizedFreeIsPlain(pointer, size) { return swallocFree(pointer) }
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
/// SWALLOC_CONF). Accepted and ignored, with glibc's answer: 0 (refused)
/// for an M_MXFAST outside 0 ... 80 * sizeof(size_t) / 4, as glibc 2.36
/// refuses it, else 1 (glibc takes every other parameter and value).
@_cdecl("swalloc_mallopt")
public func swallocMallopt(_ parameter: Int32, _ value: Int32) -> Int32 {
  let mxFast: Int32 = 1   // M_MXFAST
  if parameter == mxFast && (value < 0 || value > Int32(80 &* MemoryLayout<Int>.size / 4)) { return 0 }
  return 1
}

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

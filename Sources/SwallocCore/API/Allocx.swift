// jemalloc's non-standard API: mallocx, rallocx, xallocx, sallocx, dallocx,
// sdallocx, nallocx, with the MALLOCX_* flags:
//   MALLOCX_LG_ALIGN(la) = la (bits 0-5: alignment 1 << la),
//   MALLOCX_ZERO = 0x40, MALLOCX_TCACHE(tc) = (tc + 2) << 8 (through
//   explicit cache tc: ExplicitTcache.swift), MALLOCX_TCACHE_NONE = 1 << 8
//   (bypass the thread cache), MALLOCX_ARENA(a) = (a + 1) << 20 (allocate
//   from arena a: uncached, or through the explicit cache named with it).
// Failures return NULL (or, for the size functions, 0) as in jemalloc.

import CSwallocPlatform

/// The MALLOCX_* bits of a flags word, the one place they are decoded.
struct MallocxBits {
  let bits: UInt32
  init(_ flags: Int32) { bits = UInt32(bitPattern: flags) }

  /// MALLOCX_LG_ALIGN: log2 of the alignment (0: the default).
  var lgAlign: UInt32 { bits & 0x3f }
  /// The alignment asked for, at least the quantum (lgAlign clamped to the
  /// address space: callers that must refuse more check lgAlign).
  var alignment: UInt { lgAlign == 0 ? quantum : max(UInt(1) << UInt(min(lgAlign, 47)), quantum) }
  var zero: Bool { bits & 0x40 != 0 }
  /// MALLOCX_TCACHE_NONE.
  var uncached: Bool { (bits >> 8) & 0xfff == 1 }
  /// MALLOCX_TCACHE(tc): tc, or nil when no explicit cache is named.
  var explicitCacheIndex: Int? {
    let field = Int((bits >> 8) & 0xfff)
    return field < 2 ? nil : field &- 2
  }
  /// MALLOCX_ARENA(a): a, or nil when no arena is named.
  var arenaIndex: Int? {
    let field = Int((bits >> 20) & 0xfff)
    return field == 0 ? nil : field &- 1
  }
}

struct MallocxFlags {
  var alignment: UInt = quantum
  var zero = false
  var uncached = false
  var arena: UnsafeMutablePointer<Arena>? = nil
  /// The explicit cache MALLOCX_TCACHE(tc) names (nil where the threads
  /// have no caches either: secure:true, whose frees all go through a
  /// quarantine, and junk or zero, which fill every block). Set by the
  /// calls that use it (explicitCacheNamed), not by decodeMallocxFlags:
  /// nallocx ignores the flag, as jemalloc's does.
  var cache: UnsafeMutablePointer<Tcache>? = nil
}

/// The explicit cache MALLOCX_TCACHE(tc) names in `b`, nil when it names
/// none, or under secure:true, junk or zero (MallocxFlags.cache: the call
/// then takes the thread's path). A tc that is not a live cache (never made by
/// tcache.create, or destroyed) aborts: the program's bookkeeping of its
/// caches is wrong, and a guess would put its blocks in another's hands.
func explicitCacheNamed(_ b: MallocxBits, _ caller: StaticString) -> UnsafeMutablePointer<Tcache>? {
  guard let index = b.explicitCacheIndex, !config.opt.secure && !config.opt.fillsMemory else { return nil }
  guard let t = explicitTcache(index) else { noSuchExplicitCache(caller) }
  return t
}

@inline(never)
private func noSuchExplicitCache(_ caller: StaticString) -> Never {
  writeStderr("swalloc: ")
  writeStderr(caller)
  writeStderr("(): MALLOCX_TCACHE names no live tcache\n")
  swalloc_abort()
}

/// Decodes `flags`; nil when they name an arena that does not exist or an
/// alignment beyond the address space.
func decodeMallocxFlags(_ flags: Int32) -> MallocxFlags? {
  let b = MallocxBits(flags)
  if b.lgAlign >= 48 { return nil }
  var f = MallocxFlags(alignment: b.alignment, zero: b.zero, uncached: b.uncached)
  if let index = b.arenaIndex {
    guard let a = arenaGetOrCreate(index) else { return nil }
    f.arena = a
  }
  return f
}

@_cdecl("swalloc_mallocx")
public func swallocMallocx(_ size: UInt, _ flags: Int32) -> UnsafeMutableRawPointer? {
  if flags == 0 { return swallocMalloc(size) }
  // MALLOCX_TCACHE(tc) alone, a small size: explicitCachePop.
  if UInt32(bitPattern: flags) & ~explicitCacheField == 0 && size &- 1 < lookupMaxSize && isBooted() && !profActive,
     let t = explicitCacheNamed(MallocxBits(flags), "mallocx") {
    return explicitCachePop(size, t)
  }
  if !ensureBooted() { return nil }
  guard var f = decodeMallocxFlags(flags) else { return nil }
  f.cache = explicitCacheNamed(MallocxBits(flags), "mallocx")
  return allocateAligned(size, alignment: f.alignment, zero: f.zero, uncached: f.uncached, arena: f.arena,
                         cache: f.cache)
}

/// The bits of MALLOCX_TCACHE's field.
let explicitCacheField: UInt32 = 0xfff << 8

/// mallocx(size, MALLOCX_TCACHE(tc)) for a small size (1 ... lookupMaxSize):
/// the pop from cache `t`'s stack of its class, or its refill, without the
/// flags' decoding, placement and alignment arithmetic of the general path.
/// A mallocx(64) + dallocx pair through an explicit cache took ~480
/// instructions that way (callgrind), 190 with this and
/// freeToExplicitCache: 16.9 ns, jemalloc 5.3's 17.3 (medians of 3
/// interleaved runs of 10M pairs), MALLOCX_TCACHE_NONE 67.9. Its bytes count
/// in the calling thread's counters at once (the stack's counts would be
/// folded into whichever thread next refills it).
@inline(never)
private func explicitCachePop(_ size: UInt, _ t: UnsafeMutablePointer<Tcache>) -> UnsafeMutableRawPointer? {
  let code = sizeCode(size)
  let sizeClass = code &- 1
  guard sizeClass < config.tcacheClassCount else {
    return allocateAligned(size, alignment: quantum, zero: false, cache: t)
  }
  guard let p = tcacheBin(forCode: code, t).pop() ?? tcacheRefillAndPop(t, sizeClass: sizeClass) else {
    setErrno(ENOMEM)
    return nil
  }
  threadCountBytes(bootedClassSize(sizeClass))
  return p
}

/// dallocx(pointer, MALLOCX_TCACHE(tc)): free's fast path on cache `t`'s
/// stacks (a block of its arena whose stack has room, not the block freed
/// last; checked with the rest of the stack when it is flushed), else
/// freeExplicit's full path.
@inline(never)
func freeToExplicitCache(_ pointer: UnsafeMutableRawPointer, _ t: UnsafeMutablePointer<Tcache>) {
  let address = UInt(bitPattern: pointer)
  let bins = tcacheBin(forCode: 0, t)
  let leaf = pageMapLookup(address)
  if leaf & pageMapArenaChunkTag != 0 && chunkMetaArenaWord(leaf: leaf) == fastPathOwner(bins) {
    let binOffset = chunkBinOffset(leaf: leaf, address: address)
    let bin = (UnsafeMutableRawPointer(bins) + binOffset).assumingMemoryBound(to: TcacheBin.self)
    // Code 0 and the large classes have no room here (fastLimit); an empty
    // stack's *head is its nil sentinel.
    if unsafeBitCast(bin.pointee.head.pointee, to: UInt.self) != address
       && bin.push(pointer, floor: bin.pointee.fastLimit) {
      threadCountDeallocated(bootedClassSize((binOffset >> tcacheBinShift) &- 1))
      return
    }
  }
  freeExplicit(pointer, t)
}

@_cdecl("swalloc_rallocx")
public func swallocRallocx(_ pointer: UnsafeMutableRawPointer?, _ size: UInt, _ flags: Int32) -> UnsafeMutableRawPointer? {
  guard let pointer else { return swallocMallocx(size, flags) }
  if !isBooted() { invalidPointer("rallocx") }
  guard var f = decodeMallocxFlags(flags) else { return nil }
  f.cache = explicitCacheNamed(MallocxBits(flags), "rallocx")
  let old = lookupAllocation(pointer, "rallocx")
  let oldUsable = old.usableSize
  let aligned = UInt(bitPattern: pointer) & (f.alignment &- 1) == 0
  if aligned && f.arena == nil {
    // In place when the block already has the size class asked for.
    let wanted = usableSizeFor(size, alignment: f.alignment)
    if wanted == 0 { return nil }
    if wanted == oldUsable { return pointer }
    if wanted > oldUsable && swallocXallocx(pointer, size, 0, flags) >= size { return pointer }
  }
  guard let fresh = allocateAligned(size, alignment: f.alignment, zero: f.zero, uncached: f.uncached, arena: f.arena,
                                    cache: f.cache) else {
    return nil
  }
  memcpy(fresh, pointer, Int(min(size, oldUsable)))
  freeMovedBlock(pointer, old, uncached: f.uncached, cache: f.cache)
  return fresh
}

/// Resizes in place to at least `size` (and up to `size + extra`) bytes when
/// possible; returns the usable size the block has afterwards.
@_cdecl("swalloc_xallocx")
public func swallocXallocx(_ pointer: UnsafeMutableRawPointer?, _ size: UInt, _ extra: UInt, _ flags: Int32) -> UInt {
  guard let pointer else { return 0 }
  if !isBooted() { invalidPointer("xallocx") }
  let zero = MallocxBits(flags).zero
  let allocation = lookupAllocation(pointer, "xallocx")
  let oldUsable = allocation.usableSize
  if size > maxRequestSize { return oldUsable }
  let (target, overflow) = size.addingReportingOverflow(extra)
  let most = overflow || target > maxRequestSize ? maxRequestSize : target
  switch allocation {
  case .small:
    break
  case .large(let arena, let extent, _):
    // The most that fits, else at least `size`.
    var grown = false
    if most <= largeMaxClass && most > oldUsable {
      let c = classIndexFor(most)
      grown = arenaResizeLargeInPlace(arena, extent, newClass: c, bytes: largeRunBytes(request: most, sizeClass: c))
    }
    if !grown && size <= largeMaxClass && size > oldUsable {
      let c = classIndexFor(size)
      _ = arenaResizeLargeInPlace(arena, extent, newClass: c, bytes: largeRunBytes(request: size, sizeClass: c))
    }
  case .huge(let record):
    if most > oldUsable && !hugeResizeInPlace(record, newSize: most) && size > oldUsable {
      _ = hugeResizeInPlace(record, newSize: size)
    }
  }
  let newUsable = lookupAllocation(pointer, "xallocx").usableSize
  threadCountResize(from: oldUsable, to: newUsable)
  if zero && newUsable > oldUsable { memset(pointer + Int(oldUsable), 0, Int(newUsable &- oldUsable)) }
  return newUsable
}

@_cdecl("swalloc_sallocx")
public func swallocSallocx(_ pointer: UnsafeMutableRawPointer?, _ flags: Int32) -> UInt {
  swallocMallocUsableSize(pointer)
}

@_cdecl("swalloc_dallocx")
public func swallocDallocx(_ pointer: UnsafeMutableRawPointer?, _ flags: Int32) {
  guard let pointer else { return }
  let b = MallocxBits(flags)
  if b.uncached {
    freeUncached(pointer)
  } else if let t = explicitCacheNamed(b, "dallocx") {
    freeToExplicitCache(pointer, t)
  } else {
    swallocFree(pointer)
  }
}

/// Sized deallocation, jemalloc's rule: `size` may be anything from the
/// original request up to the usable size, read with the flags' alignment
/// (sizeNamesAllocation); another size means the caller's bookkeeping is
/// corrupt: abort.
@_cdecl("swalloc_sdallocx")
public func swallocSdallocx(_ pointer: UnsafeMutableRawPointer?, _ size: UInt, _ flags: Int32) {
  if flags == 0 && sizedFreeIsPlain(pointer, size) { return swallocFree(pointer) }
  guard let pointer else { return }
  if !isBooted() { invalidPointer("sdallocx") }
  let alignment = MallocxBits(flags).alignment
  if !sizeNamesAllocation(size, alignment: alignment, lookupAllocation(pointer, "sdallocx")) {
    fatal("sdallocx(): size does not match the allocation")
  }
  swallocDallocx(pointer, flags)
}

@_cdecl("swalloc_nallocx")
public func swallocNallocx(_ size: UInt, _ flags: Int32) -> UInt {
  // No flags and a small size (1 ... lookupMaxSize): its class's size from
  // the table, the answer usableSizeFor gives (an alignment of at most the
  // quantum changes no small class). Redis asks for each string it
  // sizes: 112 instructions a call through the flags and placement (29
  // now; 35 under its own jemalloc; callgrind, 50,000 SETs).
  if flags == 0 && size &- 1 < lookupMaxSize && isBooted() { return bootedClassSize(sizeCode(size) &- 1) }
  if !ensureBooted() { return 0 }
  guard let f = decodeMallocxFlags(flags) else { return 0 }
  return usableSizeFor(size, alignment: f.alignment)
}

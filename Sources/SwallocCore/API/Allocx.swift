// jemalloc's non-standard API: mallocx, rallocx, xallocx, sallocx, dallocx,
// sdallocx, nallocx, with the MALLOCX_* flags:
//   MALLOCX_LG_ALIGN(la) = la (bits 0-5: alignment 1 << la),
//   MALLOCX_ZERO = 0x40, MALLOCX_TCACHE_NONE = 1 << 8 (bypass the thread
//   cache; other explicit tcaches are not supported and act as the default),
//   MALLOCX_ARENA(a) = (a + 1) << 20 (allocate from arena a, uncached).
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
  /// MALLOCX_TCACHE_NONE (explicit tcaches, other values, act as the default).
  var uncached: Bool { (bits >> 8) & 0xfff == 1 }
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
  if !ensureBooted() { return nil }
  guard let f = decodeMallocxFlags(flags) else { return nil }
  return allocateAligned(size, alignment: f.alignment, zero: f.zero, uncached: f.uncached, arena: f.arena)
}

@_cdecl("swalloc_rallocx")
public func swallocRallocx(_ pointer: UnsafeMutableRawPointer?, _ size: UInt, _ flags: Int32) -> UnsafeMutableRawPointer? {
  guard let pointer else { return swallocMallocx(size, flags) }
  if !isBooted() { invalidPointer("rallocx") }
  guard let f = decodeMallocxFlags(flags) else { return nil }
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
  guard let fresh = allocateAligned(size, alignment: f.alignment, zero: f.zero, uncached: f.uncached, arena: f.arena) else {
    return nil
  }
  memcpy(fresh, pointer, Int(min(size, oldUsable)))
  freeMovedBlock(pointer, old, uncached: f.uncached)
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
  if MallocxBits(flags).uncached { freeUncached(pointer) } else { swallocFree(pointer) }
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

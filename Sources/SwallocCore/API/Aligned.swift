// Aligned and zeroed allocation, and the one placement rule (placementFor)
// that allocation, nallocx and the sized frees share.

import CSwallocPlatform

// MARK: Aligned and zeroed allocation

/// Allocates `size` bytes aligned to `alignment` (a power of two), zeroed
/// when asked, through the thread cache unless `uncached` or an explicit
/// `arena` (mallocx flags) says otherwise. Sets ENOMEM on failure.
/// Never inlined: the callers' cache-hit paths stay free of its register
/// saves.
@inline(never)
func allocateAligned(_ size: UInt, alignment: UInt, zero: Bool, uncached: Bool = false,
                     arena: UnsafeMutablePointer<Arena>? = nil,
                     cache: UnsafeMutablePointer<Tcache>? = nil) -> UnsafeMutableRawPointer? {
  // With profiling active: the byte countdown of allocations no thread-cache
  // countdown counted (the callers' cache hits did), or the one such a
  // countdown chose (profForceSample).
  if profActive && profSampleNow(usableSizeFor(size, alignment: alignment)) {
    return profAllocSampled(size, alignment: alignment, zero: zero, arena: arena)
  }
  guard let p = allocateAlignedBlock(size, alignment: alignment, zero: zero, uncached: uncached, arena: arena,
                                     cache: cache) else {
    return nil
  }
  threadCountAllocated(usableSizeFor(size, alignment: alignment))
  return p
}

private func allocateAlignedBlock(_ size: UInt, alignment: UInt, zero: Bool, uncached: Bool,
                                  arena: UnsafeMutablePointer<Arena>?,
                                  cache: UnsafeMutablePointer<Tcache>?) -> UnsafeMutableRawPointer? {
  if !ensureBooted() { setErrno(ENOMEM); return nil }
  // An arena named with an explicit cache: the cache serves it, bound to
  // that arena first (its blocks of another arena sent home), so that
  // every block it hands out is of the arena asked for.
  if let cache, let arena, cache.pointee.arena != arena {
    tcacheEmpty(cache)
    tcacheSetArena(cache, arena)
  }
  let bypassCache = uncached || (arena != nil && cache == nil)
  var p: UnsafeMutableRawPointer? = nil
  switch placementFor(size, alignment: alignment) {
  case .impossible:
    break
  case .sizeClass(let sizeClass):
    if alignment > pageSize || bypassCache || (zero && sizeClass >= config.tcacheClassCount) {
      // Large runs start on page boundaries: only a larger alignment is
      // passed down.
      p = allocateUncached(sizeClass, request: size, alignment: max(alignment, pageSize), zero: zero, arena: arena)
    } else {
      p = allocateClass(sizeClass, request: size, cache: cache)
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
    let rounded = alignedRequestSize(request, alignment: alignment)
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
  // (A run sized to its request: the request rounded up to its alignment
  // and to pages, the same bytes.)
  case .sizeClass(let c): return c >= config.pageRunFirstClass ? roundUpToPage(size) : sizeClassSize(c)
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
    // A sampled small request sits in a large run (Prof.swift). A run
    // sized to its request (largeRunBytes) is filed under the class below
    // (largeRunClass): its request's pages name it.
    return c == have || (c >= config.pageRunFirstClass && roundUpToPage(size) == allocation.usableSize)
      || c == profSampledClass(extent)
  case (.huge(let request), .huge):
    return roundUpToPage(request) <= allocation.usableSize
  default:
    return false
  }
}

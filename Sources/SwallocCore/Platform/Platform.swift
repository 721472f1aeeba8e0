// Thin wrappers over the few system calls the allocator makes. Nothing here
// may call malloc: only mmap/munmap/madvise/write/abort and errno access.

import CSwallocPlatform

/// The page size: 4 KiB, the only one x86-64 Linux has (boot checks the
/// auxiliary vector). Constants, so the fast paths shift by an immediate.
let pageSize: UInt = 4096
let pageShift: UInt = 12
let pageMask: UInt = 4095

@inline(__always) func roundUpToPage(_ n: UInt) -> UInt { (n &+ pageMask) & ~pageMask }

/// Maps `size` bytes of fresh, zeroed, read-write anonymous memory.
/// Returns nil (errno untouched by us) when the kernel refuses.
func mapPages(_ size: UInt) -> UnsafeMutableRawPointer? {
  if size > UInt(Int.max) { return nil }
  let p = mmap(nil, Int(size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
  if p == nil || p == swalloc_map_failed() { return nil }
  return p
}

/// Reserves address space without committing memory (used to find aligned ranges).
func reserveAddressSpace(_ size: UInt) -> UnsafeMutableRawPointer? {
  if size > UInt(Int.max) { return nil }
  let p = mmap(nil, Int(size), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
  if p == nil || p == swalloc_map_failed() { return nil }
  return p
}

func unmapPages(_ p: UnsafeMutableRawPointer, _ size: UInt) {
  let saved = swalloc_errno()
  _ = munmap(p, Int(size))
  swalloc_set_errno(saved)
}

/// Maps `size` bytes aligned to `alignment` (a power of two >= page size) by
/// over-mapping and trimming the excess on both sides.
func mapAligned(_ size: UInt, alignment: UInt) -> UnsafeMutableRawPointer? {
  if alignment <= pageSize { return mapPages(size) }
  let (total, overflow) = size.addingReportingOverflow(alignment &- pageSize)
  if overflow { return nil }
  guard let raw = mapPages(total) else { return nil }
  let start = UInt(bitPattern: raw)
  let aligned = (start &+ alignment &- 1) & ~(alignment &- 1)
  let lead = aligned &- start
  if lead != 0 { unmapPages(raw, lead) }
  let trail = total &- lead &- size
  if trail != 0 { unmapPages(UnsafeMutableRawPointer(bitPattern: aligned &+ size)!, trail) }
  return UnsafeMutableRawPointer(bitPattern: aligned)
}

func setErrno(_ e: Int32) { swalloc_set_errno(e) }

/// Writes a static message to stderr without allocating.
func writeStderr(_ s: StaticString) {
  _ = write(2, s.utf8Start, Int(s.utf8CodeUnitCount))
}

/// The outcome for corrupted state or misuse: one line on stderr, then abort.
func fatal(_ message: StaticString) -> Never {
  writeStderr("swalloc: ")
  writeStderr(message)
  writeStderr("\n")
  swalloc_abort()
}

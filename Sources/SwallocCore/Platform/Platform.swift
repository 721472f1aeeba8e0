// Thin wrappers over the few system calls the allocator makes. Nothing here
// may call malloc: only mmap/munmap/madvise/write/abort and errno access.

import CSwallocPlatform

/// The page size: 4 KiB, the only one x86-64 Linux has (boot checks the
/// auxiliary vector). Constants, so the fast paths shift by an immediate.
let pageSize: UInt = 4096
let pageShift: UInt = 12
let pageMask: UInt = 4095
/// x86-64's cache line: the unit that two cores writing neighbouring bytes
/// contend for (slabLineRegions).
let cacheLineBytes: UInt = 64

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

// MARK: Transparent huge pages (the thp option)
//
// With the system's THP mode "always", the kernel backs any 2 MiB-aligned
// stretch of an anonymous mapping with one huge page at the first touch of
// any of its pages, and khugepaged later merges partly purged stretches
// back into huge pages. Chunks are managed a page at a time (page states,
// Chunk.swift): a fresh page the allocator counts as not resident would
// then be resident, a purge of a few pages of a huge page would be undone,
// and a small program would hold 2 MiB where it touched 4 KiB. So by
// default (thp:never) chunk and base mappings are marked MADV_NOHUGEPAGE
// where the system would otherwise use huge pages for them; stats.resident
// then matches the kernel's figure there. Huge blocks (one mapping each,
// counted whole) keep the system's choice. thp:always asks for huge pages
// (MADV_HUGEPAGE) on chunks and huge blocks alike, for programs that value
// fewer TLB misses over memory (stats.resident is then a lower bound);
// thp:default leaves every mapping to the system. jemalloc's option of the
// same name and values.

/// The thp option's values (jemalloc's names).
enum ThpSetting: UInt8, NamedSetting {
  case systemDefault, always, never

  var name: StaticString {
    switch self {
    case .systemDefault: return "default"
    case .always: return "always"
    case .never: return "never"
    }
  }
}

/// The system's THP modes.
enum SystemThpMode { case always, madvise, never }

/// The system's THP mode: the bracketed word of
/// /sys/kernel/mm/transparent_hugepage/enabled, or nil where it cannot be
/// read (no THP in the kernel, no /sys).
private func systemThpMode() -> SystemThpMode? {
  let saved = swalloc_errno()
  defer { swalloc_set_errno(saved) }
  let fd = swalloc_open_read("/sys/kernel/mm/transparent_hugepage/enabled")
  if fd < 0 { return nil }
  // "always [madvise] never\n": 64 bytes hold it.
  var text = InlineArray<64, UInt8>(repeating: 0)
  let n = withUnsafeMutableBytes(of: &text) { read(fd, $0.baseAddress, 63) }
  close(fd)
  if n <= 0 { return nil }
  return withUnsafeBytes(of: &text) { b -> SystemThpMode? in
    var i = 0
    while i < n && b[i] != 91 { i &+= 1 }  // '['
    if i >= n { return nil }
    let word = UnsafeRawPointer(b.baseAddress.unsafelyUnwrapped + i + 1).assumingMemoryBound(to: CChar.self)
    var length = 0
    while i + 1 + length < n && b[i + 1 + length] != 93 { length &+= 1 }  // ']'
    if keyEquals(word, length, "always") { return .always }
    if keyEquals(word, length, "madvise") { return .madvise }
    if keyEquals(word, length, "never") { return .never }
    return nil
  }
}

/// The boot step: the advice for chunk and base mappings and for huge
/// blocks, from the thp option and the system's mode.
func thpBoot() {
  (config.thpAdviceChunks, config.thpAdviceHuge) = thpAdvice(config.opt.thp, system: systemThpMode())
}

/// The madvise advice (0: none) for chunk and base mappings and for huge
/// blocks under `setting` on a system whose mode is `system` (nil:
/// unknown). A call only where it changes what the kernel would do:
/// thp:never on a system whose mode is not "always" costs nothing.
func thpAdvice(_ setting: ThpSetting, system: SystemThpMode?) -> (chunks: Int32, huge: Int32) {
  switch setting {
  case .systemDefault: return (0, 0)
  // Unknown: ask anyway (EINVAL where the kernel has no THP, ignored).
  case .never: return system == .always || system == nil ? (MADV_NOHUGEPAGE, 0) : (0, 0)
  case .always: return system == .never ? (0, 0) : (MADV_HUGEPAGE, MADV_HUGEPAGE)
  }
}

/// Gives a fresh mapping the huge-page advice the boot chose (0: none).
/// Best effort: a refusal leaves the system's choice, errno untouched.
func adviseHugePages(_ p: UnsafeMutableRawPointer, _ size: UInt, _ advice: Int32) {
  if advice == 0 { return }
  let saved = swalloc_errno()
  _ = madvise(p, Int(size), advice)
  swalloc_set_errno(saved)
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

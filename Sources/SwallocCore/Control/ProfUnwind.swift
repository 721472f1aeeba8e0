// The heap profiler's backtraces (Prof.swift, ProfSampling.swift): a DWARF
// (.eh_frame) unwinder with a cache of the unwind rule of each return
// address, in front of glibc's backtrace(3).
//
// Why: backtrace(3) is libgcc's _Unwind_Backtrace, which for every frame of
// every sample finds the FDE (_Unwind_Find_FDE, _dl_find_object), parses
// its CIE (strlen of the augmentation string included) and runs both CFA
// programs from the function's start: about 0.2 us a frame, 2 us for the
// 10 frames of a small program's sample, most of a sample's cost (perf on
// bench aligned with prof:true: libgcc, ld.so and libc's backtrace_helper
// took 60% of the time profiling added). The same call sites come back
// sample after sample, so the rule found for a return address (how to get
// the caller's CFA, return address and frame pointer) is kept here, and a
// frame whose rule is cached costs a table probe and two loads.
//
// The same rules as libgcc's, found the same way (_Unwind_Find_FDE, then
// the CIE's and FDE's instructions up to the return address), kept only
// when they are of the plain kind compiled code uses on x86-64: CFA = rsp
// or rbp + offset, return address and rbp saved at CFA + offset (or rbp
// untouched), nothing else about rsp. Anything else (a signal frame, a
// DWARF expression, a frame without an FDE, which may be the sigreturn
// trampoline, 64-bit DWARF, a CFA in another register, a malformed CIE or
// FDE) sends the whole backtrace to backtrace(3), so its result is
// libgcc's in every case (tests/prof/unwind_check.c compares the two on
// frames of every kind; the debug builds compare every sample). Nothing
// read from .eh_frame can trap: its arithmetic wraps (&+, &*) and every
// read is bounds-checked against the CIE's or FDE's length.
//
// The table is global, a two-way cache of 4096 entries, each behind
// a sequence word (a reader that sees a write in progress treats it as a
// miss; a writer that finds another writer there does not store). A rule
// is only valid while the code it describes is mapped: keys carry the
// loader's count of objects removed (dl_iterate_phdr's dlpi_subs, read
// once per backtrace), so after a dlclose every older entry misses.
//
// Nothing here allocates: the table is base memory given by the profiler,
// _Unwind_Find_FDE and dl_iterate_phdr do not allocate, and the
// dlopen/dlsym of libgcc_s is done once from the constructor with the
// profiler's busy flag set (profPrime). What Swift cannot do is in C
// (platform.c): reading the caller's registers (swalloc_unwind_regs),
// backtrace(3) itself, the dlopen/dlsym and the call through the pointer
// it gives, and dl_iterate_phdr with its callback.

import CSwallocPlatform
import Synchronization

// DWARF register numbers (x86-64 psABI).
let dwarfRBP: UInt64 = 6
let dwarfRSP: UInt64 = 7
let dwarfRA: UInt64 = 16

/// A cached rule: the caller's CFA is rsp or rbp + cfaOffset, its return
/// address at CFA + raOffset, its rbp at CFA + rbpOffset or unchanged.
struct UnwindRule {
  var cfaOffset: Int64 = 0
  var rbpOffset: Int32 = 0
  var raOffset: Int16 = 0
  var flags: UInt16 = 0
}
let ruleCFAIsRBP: UInt16 = 1   // CFA = rbp + cfaOffset (else rsp + cfaOffset)
let ruleRBPSaved: UInt16 = 2   // the caller's rbp is at CFA + rbpOffset (else rbp unchanged)
let ruleEnd: UInt16 = 4        // no return address: the outermost frame
let ruleFallback: UInt16 = 8   // only libgcc can unwind this frame

/// The table: 4 words per entry, seq (odd while written), key (return
/// address | generation << 48), lo (cfaOffset), hi (flags | raOffset << 16
/// | rbpOffset << 32). Set once from the constructor (profPrime), before
/// any backtrace uses it; nil until then.
nonisolated(unsafe) private var unwindTable: UnsafeMutablePointer<Atomic<UInt>>? = nil
nonisolated(unsafe) private var unwindMask: UInt = 0

/// Gives the unwinder its table (`bytes` of zeroed memory, kept for good:
/// every key 0, no return address) and libgcc's FDE lookup. False when it
/// has none (libgcc_s not loaded); backtraces then are backtrace(3)'s.
/// Linkable as swalloc_unwind_init for tests/prof/unwind_check.c.
@_cdecl("swalloc_unwind_init")
func unwindInit(_ table: UnsafeMutableRawPointer?, _ bytes: Int) -> Bool {
  if unwindTable != nil { return true }
  guard let table, bytes >= 64, swalloc_find_fde_init() else { return false }
  var entries = 1
  while entries <= bytes / 64 { entries &*= 2 }
  unwindMask = UInt(entries &- 1)
  unwindTable = table.assumingMemoryBound(to: Atomic<UInt>.self)
  return true
}

/// The profiler's backtrace: return addresses from this function's own on
/// (the leading ones in this library are the caller's to drop), the same
/// frames as backtrace(3). Never inlined: its frame is the walk's first.
@inline(never)
func profBacktrace(_ buffer: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ size: Int) -> Int {
#if arch(x86_64)
  if unwindTable != nil {
    var regs = swalloc_frame_regs()
    swalloc_unwind_regs(&regs)
    let n = unwindWalk(regs, buffer, size)
    if n >= 0 {
#if SWALLOC_DEBUG
      unwindVerify(buffer, n, size)
#endif
      return n
    }
  }
#endif
  return Int(swalloc_glibc_backtrace(buffer, Int32(truncatingIfNeeded: size)))
}

/// The cached walk from the frame `regs` describes (swalloc_unwind_regs's
/// caller): the frame count, or -1 when a frame needs libgcc. Linkable as
/// swalloc_unwind_walk for tests/prof/unwind_check.c.
@_cdecl("swalloc_unwind_walk")
func unwindWalkC(_ regs: UnsafePointer<swalloc_frame_regs>,
                 _ buffer: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ size: Int32) -> Int32 {
  if unwindTable == nil { return -1 }
  return Int32(truncatingIfNeeded: unwindWalk(regs.pointee, buffer, Int(size)))
}

private func unwindWalk(_ regs: swalloc_frame_regs,
                        _ buffer: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ size: Int) -> Int {
  guard let table = unwindTable else { return -1 }
  let generation = ((UInt(truncatingIfNeeded: swalloc_loader_subs()) &+ 1) & 0xffff) << 48
  var ip = UInt(regs.ip), sp = UInt(regs.sp), bp = UInt(regs.bp)
  var n = 0
  while n < size && ip != 0 {
    buffer[n] = UnsafeMutableRawPointer(bitPattern: ip)
    n &+= 1
    if ip >> 48 != 0 { return -1 }
    let key = ip | generation
    var rule = UnwindRule()
    if !unwindLookup(table, key, &rule) {
      rule = unwindComputeRule(ip)
      unwindStore(table, key, rule)
    }
    if rule.flags & ruleFallback != 0 { return -1 }
    if rule.flags & ruleEnd != 0 { break }
    let cfa = (rule.flags & ruleCFAIsRBP != 0 ? bp : sp) &+ UInt(bitPattern: Int(rule.cfaOffset))
    // The stack grows down: a caller's CFA is above its callee's. A frame
    // that says otherwise, or spans more than 16 MiB, is left to libgcc.
    if cfa <= sp || cfa &- sp > 1 << 24 { return -1 }
    let nextIP = peekWord(cfa &+ UInt(bitPattern: Int(rule.raOffset)))
    if rule.flags & ruleRBPSaved != 0 { bp = peekWord(cfa &+ UInt(bitPattern: Int(rule.rbpOffset))) }
    sp = cfa
    ip = nextIP
  }
  return n
}

@inline(__always)
func peekByte(_ address: UInt) -> UInt8 {
  UnsafeRawPointer(bitPattern: address).unsafelyUnwrapped.load(as: UInt8.self)
}

@inline(__always)
func peekU16(_ address: UInt) -> UInt16 {
  UnsafeRawPointer(bitPattern: address).unsafelyUnwrapped.loadUnaligned(as: UInt16.self)
}

@inline(__always)
func peekU32(_ address: UInt) -> UInt32 {
  UnsafeRawPointer(bitPattern: address).unsafelyUnwrapped.loadUnaligned(as: UInt32.self)
}

@inline(__always)
func peekWord(_ address: UInt) -> UInt {
  UnsafeRawPointer(bitPattern: address).unsafelyUnwrapped.loadUnaligned(as: UInt.self)
}

// MARK: The table

// A return address's entry is its slot (a hash of the address) or that
// slot's twin (slot ^ 1: the two share a 64-byte line): two-way, so two
// return addresses of one stack that hash to the same slot do not evict
// each other on every walk (a direct-mapped table did, on one build:
// profBacktrace's own frame and swallocPosixMemalign's, a miss and a
// _Unwind_Find_FDE per sample of bench aligned).
@inline(__always)
private func unwindSlot(_ key: UInt) -> UInt {
  let ip = key & 0xffff_ffff_ffff
  return ((ip &* 0x9E37_79B9_7F4A_7C15) >> 40) & unwindMask
}

@inline(__always)
private func unwindEntry(_ table: UnsafeMutablePointer<Atomic<UInt>>, _ slot: UInt) -> UnsafeMutablePointer<Atomic<UInt>> {
  table + Int(bitPattern: slot &* 4)
}

@inline(__always)
private func unwindLookup(_ table: UnsafeMutablePointer<Atomic<UInt>>, _ key: UInt,
                          _ rule: inout UnwindRule) -> Bool {
  let slot = unwindSlot(key)
  return unwindProbe(unwindEntry(table, slot), key, &rule)
    || unwindProbe(unwindEntry(table, slot ^ 1), key, &rule)
}

@inline(__always)
private func unwindProbe(_ e: UnsafeMutablePointer<Atomic<UInt>>, _ key: UInt, _ rule: inout UnwindRule) -> Bool {
  let s1 = e.pointee.load(ordering: .acquiring)
  if s1 & 1 != 0 { return false }
  let k = (e + 1).pointee.load(ordering: .relaxed)
  let lo = (e + 2).pointee.load(ordering: .relaxed)
  let hi = (e + 3).pointee.load(ordering: .relaxed)
  atomicMemoryFence(ordering: .acquiring)
  if e.pointee.load(ordering: .relaxed) != s1 || k != key { return false }
  rule.cfaOffset = Int64(bitPattern: UInt64(lo))
  rule.flags = UInt16(truncatingIfNeeded: hi)
  rule.raOffset = Int16(truncatingIfNeeded: hi >> 16)
  rule.rbpOffset = Int32(truncatingIfNeeded: hi >> 32)
  return true
}

/// Stores into the slot when it is free (key 0, or of an older
/// generation), else into its twin.
private func unwindStore(_ table: UnsafeMutablePointer<Atomic<UInt>>, _ key: UInt, _ rule: UnwindRule) {
  let slot = unwindSlot(key)
  let first = unwindEntry(table, slot)
  let held = (first + 1).pointee.load(ordering: .relaxed)
  let e = held == 0 || held >> 48 != key >> 48 ? first : unwindEntry(table, slot ^ 1)
  let s = e.pointee.load(ordering: .relaxed)
  if s & 1 != 0 { return }   // another thread is writing it
  if !e.pointee.compareExchange(expected: s, desired: s &+ 1, successOrdering: .acquiring,
                                failureOrdering: .relaxed).exchanged { return }
  atomicMemoryFence(ordering: .releasing)
  (e + 1).pointee.store(key, ordering: .relaxed)
  (e + 2).pointee.store(UInt(bitPattern: Int(rule.cfaOffset)), ordering: .relaxed)
  let hi = UInt(rule.flags) | UInt(UInt16(bitPattern: rule.raOffset)) << 16
    | UInt(UInt32(bitPattern: rule.rbpOffset)) << 32
  (e + 3).pointee.store(hi, ordering: .relaxed)
  e.pointee.store(s &+ 2, ordering: .releasing)
}

// MARK: The debug builds' check

#if SWALLOC_DEBUG
/// The debug builds (scripts/build-lib.sh --debug, the twin's) check every
/// cached walk against backtrace(3) and abort on a difference. fast[0] is
/// in profBacktrace, fast[1] the return address into its caller; in
/// backtrace(3)'s frames that one comes after this function's and
/// profBacktrace's (and the C wrapper's, unless it tail-calls
/// backtrace(3)): from there the two must be equal.
@inline(never)
private func unwindVerify(_ fast: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ n: Int, _ size: Int) {
  if size > Int(SWALLOC_PROF_CAPTURE) || n >= size { return }   // a truncated walk: not compared
  var slowFrames = InlineArray<96, UnsafeMutableRawPointer?>(repeating: nil)
  let same = withUnsafeMutablePointer(to: &slowFrames) { (p) -> Bool in
    let slow = UnsafeMutableRawPointer(p).assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
    let m = Int(swalloc_glibc_backtrace(slow, Int32(size)))
    if m >= size { return true }
    if n < 2 { return false }
    var j = 2
    while j <= 3 && j < m && slow[j] != fast[1] { j &+= 1 }
    if j > 3 || j >= m || m &- j != n &- 1 { return false }
    var i = 0
    while i < m &- j {
      if slow[j &+ i] != fast[1 &+ i] { return false }
      i &+= 1
    }
    return true
  }
  if !same { invariantFailed("the cached unwinder and backtrace(3) differ") }
}
#endif

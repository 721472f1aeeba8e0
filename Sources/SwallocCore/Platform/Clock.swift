// The monotonic clock of decay, the huge cache and the thread caches' idle
// pass: milliseconds of CLOCK_MONOTONIC_COARSE. Coarse: the time of the
// last timer tick (1-10 ms steps, the kernel's HZ), read without the TSC:
// 5 ns here against CLOCK_MONOTONIC's 23, and decay reads it at every
// page-run allocation and free (bench burst: one per slab it makes or
// empties). Every user of it measures tens of milliseconds or more (decay
// epochs are decay_ms / 32, the thread-cache idle pass 1 s).
//
// Why not just libc's clock_gettime: it is a wrapper around the vDSO's, and
// calling it faults in the 64 KiB window of libc's text around it (the
// kernel maps file text in windows around each fault), text a program that
// never reads the clock otherwise has no other use for: 57 KiB more
// resident in bench churn-lifo (2 threads), whose libc text was then the
// same as under glibc's malloc. The vDSO is mapped in every process anyway;
// the boot finds its clock_gettime (clockBoot) and the clock calls it
// directly, which also skips the wrapper's indirection. Without a vDSO
// (valgrind, a kernel booted with vdso=0) the wrapper is called.

import CSwallocPlatform

/// The vDSO's clock_gettime, the only function of the C calling convention
/// the clock calls through a pointer.
typealias VdsoClockGettime = @convention(c) (Int32, UnsafeMutablePointer<timespec>) -> Int32

/// `clock` now: through the vDSO entry the boot found, before the boot
/// (no entry yet) through libc.
@inline(__always)
private func clockNow(_ clock: clockid_t) -> timespec {
  var ts = timespec()
  if let entry = config.vdsoClockGettime {
    _ = unsafeBitCast(entry, to: VdsoClockGettime.self)(Int32(clock), &ts)
  } else {
    swalloc_clock_read(clock, &ts)
  }
  return ts
}

/// Milliseconds of CLOCK_MONOTONIC_COARSE.
@inline(__always)
func monotonicMs() -> UInt64 {
  let ts = clockNow(CLOCK_MONOTONIC_COARSE)
  return UInt64(ts.tv_sec) &* 1000 &+ UInt64(ts.tv_nsec) / 1_000_000
}

/// Microseconds of CLOCK_MONOTONIC (the fine clock, about 20 ns a read):
/// for the time a thread slept on a lock (mutexLockContended).
func monotonicUs() -> UInt64 {
  let ts = clockNow(CLOCK_MONOTONIC)
  return UInt64(ts.tv_sec) &* 1_000_000 &+ UInt64(ts.tv_nsec) / 1000
}

/// Microseconds of CPU time the calling thread has used (its
/// CLOCK_THREAD_CPUTIME_ID; a system call behind the vDSO entry): what a
/// piece of work costs, apart from the time the thread waited for a core
/// (residentForStats).
func threadCpuUs() -> UInt64 {
  let ts = clockNow(CLOCK_THREAD_CPUTIME_ID)
  return UInt64(ts.tv_sec) &* 1_000_000 &+ UInt64(ts.tv_nsec) / 1000
}

/// Boot step: finds `__vdso_clock_gettime` in the vDSO image the kernel
/// mapped (AT_SYSINFO_EHDR) through its dynamic section: DT_SYMTAB,
/// DT_STRTAB and DT_HASH (whose chain count is the number of symbols; the
/// x86-64 vDSO is linked with both hash styles). Leaves the entry nil when
/// any of it is missing.
func clockBoot() {
  config.vdsoClockGettime = vdsoSymbol(UnsafeRawPointer(bitPattern: UInt(getauxval(UInt(AT_SYSINFO_EHDR)))),
                                       "__vdso_clock_gettime")
}

/// The address of the defined function `name` in the ELF image at `image`
/// (a vDSO: its segments at their link addresses plus one bias), or nil.
func vdsoSymbol(_ image: UnsafeRawPointer?, _ name: StaticString) -> UnsafeRawPointer? {
  guard let image, image.load(as: UInt32.self) == 0x464c_457f else { return nil }   // "\x7fELF"
  let imageAddress = UInt(bitPattern: image)
  let phoff = Int(image.load(fromByteOffset: 32, as: UInt64.self))
  let phentsize = Int(image.load(fromByteOffset: 54, as: UInt16.self))
  let phnum = Int(image.load(fromByteOffset: 56, as: UInt16.self))
  var bias: UInt? = nil
  var dynamic: UInt = 0
  var i = 0
  while i < phnum {
    let ph = image + (phoff &+ i &* phentsize)
    let type = ph.load(as: UInt32.self)
    let offset = UInt(ph.load(fromByteOffset: 8, as: UInt64.self))
    let vaddr = UInt(ph.load(fromByteOffset: 16, as: UInt64.self))
    if type == 1 && offset == 0 && bias == nil { bias = imageAddress &- vaddr }   // PT_LOAD holding the header
    if type == 2 { dynamic = vaddr }                                      // PT_DYNAMIC
    i &+= 1
  }
  guard let bias, dynamic != 0 else { return nil }
  var symtab: UInt = 0
  var strtab: UInt = 0
  var hash: UInt = 0
  var dyn = UnsafeRawPointer(bitPattern: bias &+ dynamic)!
  while true {
    let tag = dyn.load(as: Int64.self)
    let value = UInt(dyn.load(fromByteOffset: 8, as: UInt64.self))
    if tag == 0 { break }            // DT_NULL
    if tag == 4 { hash = value }     // DT_HASH
    if tag == 5 { strtab = value }   // DT_STRTAB
    if tag == 6 { symtab = value }   // DT_SYMTAB
    dyn += 16
  }
  guard symtab != 0, strtab != 0, hash != 0 else { return nil }
  let count = Int(UnsafeRawPointer(bitPattern: bias &+ hash)!.load(fromByteOffset: 4, as: UInt32.self))
  let symbols = UnsafeRawPointer(bitPattern: bias &+ symtab)!
  let strings = UnsafeRawPointer(bitPattern: bias &+ strtab)!
  var s = 0
  while s < count {
    let sym = symbols + s &* 24   // Elf64_Sym
    let info = sym.load(fromByteOffset: 4, as: UInt8.self)
    let section = sym.load(fromByteOffset: 6, as: UInt16.self)
    let value = UInt(sym.load(fromByteOffset: 8, as: UInt64.self))
    // A defined function (STT_FUNC), global or weak.
    if info & 0xf == 2 && info >> 4 != 0 && section != 0 && value != 0
      && cStringEquals(strings + Int(sym.load(as: UInt32.self)), name) {
      return UnsafeRawPointer(bitPattern: bias &+ value)
    }
    s &+= 1
  }
  return nil
}

/// Whether the NUL-terminated string at `s` is `name` (no libc strcmp: its
/// page is one more the boot would fault in). keyEquals stops at the first
/// byte that differs, at the latest at a shorter string's NUL, so it reads
/// nothing past the string.
private func cStringEquals(_ s: UnsafeRawPointer, _ name: StaticString) -> Bool {
  let n = name.utf8CodeUnitCount
  return keyEquals(s.assumingMemoryBound(to: CChar.self), n, name) && s.load(fromByteOffset: n, as: UInt8.self) == 0
}

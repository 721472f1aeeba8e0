// The control interface, jemalloc's mallctl: `mallctl(name, oldp, oldlenp,
// newp, newlen)` (also exported as `swalloc_mallctl`) reads a value into
// *oldp when oldp and oldlenp are given, and writes *newp when newp is
// given; the lengths must equal the value's size. Returns 0, or ENOENT for an
// unknown name, EINVAL for a wrong length or value, EPERM for writing a
// read-only name. Names (a subset of jemalloc's; see README):
//
//   version                       const char *   read
//   epoch                         uint64_t       read/write (statistics are
//                                                always current; counts writes)
//   arenas.narenas                unsigned       read
//   arenas.bin.<i>.size           size_t         read
//   arena.<i>.purge               -              purge arena i (i = narenas or
//                                                4096: every arena) now
//   thread.tcache.flush           -              flush the calling thread's cache
//   stats.allocated / active / mapped / resident / retained   size_t  read
//   opt.narenas (unsigned), opt.tcache (bool), opt.tcache_max (size_t),
//   opt.dirty_decay_ms / opt.muzzy_decay_ms (ssize_t),
//   opt.background_thread (bool), opt.stats_print (bool)      read
//
// Parsing never allocates: the name is compared in place.

import CSwallocPlatform

/// jemalloc's MALLCTL_ARENAS_ALL.
let ctlArenasAll = 4096
var ctlEpoch: UInt64 = 0

/// A cursor over a NUL-terminated name.
struct NameCursor {
  var p: UnsafePointer<CChar>

  /// Consumes `literal` if the name continues with it.
  mutating func take(_ literal: StaticString) -> Bool {
    var i = 0
    while i < literal.utf8CodeUnitCount {
      if UInt8(bitPattern: p[i]) != literal.utf8Start[i] { return false }
      i &+= 1
    }
    p += i
    return true
  }

  /// Consumes a decimal number (at most 9 digits).
  mutating func number() -> Int? {
    var value = 0
    var digits = 0
    while p[0] >= 48 && p[0] <= 57 && digits < 9 {
      value = value &* 10 &+ Int(p[0] &- 48)
      p += 1
      digits &+= 1
    }
    return digits == 0 ? nil : value
  }

  var atEnd: Bool { p[0] == 0 }
}

private func readOnly<T>(_ value: T, _ oldp: UnsafeMutableRawPointer?, _ oldlenp: UnsafeMutablePointer<Int>?,
                         _ newp: UnsafeMutableRawPointer?) -> Int32 {
  if newp != nil { return EPERM }
  return copyOut(value, oldp, oldlenp)
}

/// For names that act before answering: EINVAL (and the expected length in
/// *oldlenp) when the caller's buffer cannot take a T, checked first.
private func oldLengthMismatch<T>(_ type: T.Type, _ oldp: UnsafeMutableRawPointer?,
                                  _ oldlenp: UnsafeMutablePointer<Int>?) -> Bool {
  guard oldp != nil, let oldlenp, oldlenp.pointee != MemoryLayout<T>.size else { return false }
  oldlenp.pointee = MemoryLayout<T>.size
  return true
}

private func copyOut<T>(_ value: T, _ oldp: UnsafeMutableRawPointer?, _ oldlenp: UnsafeMutablePointer<Int>?) -> Int32 {
  guard let oldp, let oldlenp else { return 0 }
  if oldlenp.pointee != MemoryLayout<T>.size {
    oldlenp.pointee = MemoryLayout<T>.size
    return EINVAL
  }
  oldp.storeBytes(of: value, as: T.self)
  return 0
}

/// An action name: nothing may be read or written.
private func action(_ oldp: UnsafeMutableRawPointer?, _ newp: UnsafeMutableRawPointer?, _ body: () -> Void) -> Int32 {
  if oldp != nil || newp != nil { return EINVAL }
  body()
  return 0
}

/// Drains arena `index`'s remote-free stacks and purges all its dirty and
/// muzzy pages; returns the pages purged.
@discardableResult
private func purgeArena(_ index: Int) -> UInt {
  mutexLock(&arenasLock)
  let arena = arenas[index]
  mutexUnlock(&arenasLock)
  guard let a = arena else { return 0 }
  var c = 0
  while c < smallClassCount {
    let bin = a.pointee.bins + c
    mutexLock(&bin.pointee.lock)
    binDrainRemoteLocked(a, bin, sizeClass: c)
    mutexUnlock(&bin.pointee.lock)
    c &+= 1
  }
  mutexLock(&a.pointee.extentLock)
  let purged = arenaPurgeAll(a)
  mutexUnlock(&a.pointee.extentLock)
  return purged
}

/// Purges every arena; returns whether anything was purged (malloc_trim).
func purgeAllArenas() -> Bool {
  var purged: UInt = 0
  var i = 0
  while i < arenaCount { purged &+= purgeArena(i); i &+= 1 }
  return purged != 0
}

/// thread.arena: reads the calling thread's arena index (unsigned); writing
/// an index binds the thread to that arena (created if needed) for its next
/// refills and large allocations; blocks it already holds keep their arena.
/// A thread without a cache (tcache:false) uses arena 0 and cannot move:
/// EAGAIN. An index past arenas.narenas: EFAULT, as jemalloc.
private func threadArenaCtl(_ oldp: UnsafeMutableRawPointer?, _ oldlenp: UnsafeMutablePointer<Int>?,
                            _ newp: UnsafeMutableRawPointer?, _ newlen: Int) -> Int32 {
  let t = tsdFetchTcache()
  let current = t.map { UInt32($0.pointee.arena.pointee.index) } ?? 0
  if oldLengthMismatch(UInt32.self, oldp, oldlenp) { return EINVAL }
  if let newp {
    if newlen != 4 { return EINVAL }
    let index = Int(newp.load(as: UInt32.self))
    if index >= arenaCount { return EFAULT }
    guard let t else { return EAGAIN }
    guard let target = arenaGetOrCreate(index) else { return EAGAIN }
    if target != t.pointee.arena {
      mutexLock(&arenasLock)
      arenaThreadCounts[Int(t.pointee.arena.pointee.index)] &-= 1
      arenaThreadCounts[index] &+= 1
      mutexUnlock(&arenasLock)
      t.pointee.arena = target
    }
  }
  return copyOut(current, oldp, oldlenp)
}

/// thread.tcache.enabled (bool): reads whether the calling thread caches;
/// writing false returns its cached blocks and its cache, writing true lets
/// its next allocation build a new one (with tcache:false, junk or zero,
/// caching stays off and writing true changes nothing).
private func threadTcacheEnabledCtl(_ oldp: UnsafeMutableRawPointer?, _ oldlenp: UnsafeMutablePointer<Int>?,
                                    _ newp: UnsafeMutableRawPointer?, _ newlen: Int) -> Int32 {
  let enabled = currentTcache() != nil || swalloc_tls_state() == TsdState.uninitialized.rawValue && optTcache && !optFillsMemory
  if oldLengthMismatch(Bool.self, oldp, oldlenp) { return EINVAL }
  if let newp {
    if newlen != MemoryLayout<Bool>.size { return EINVAL }
    if newp.load(as: Bool.self) {
      if swalloc_tls_state() == TsdState.disabled.rawValue && optTcache && !optFillsMemory {
        swalloc_tls_set_state(TsdState.uninitialized.rawValue)
      }
    } else if let t = currentTcache() {
      swalloc_tls_set_tcache(nil)
      swalloc_tls_set_state(TsdState.disabled.rawValue)
      _ = pthread_setspecific(tsdKey, nil)
      threadCountsFold(t)
      tcacheDestroy(t)
    } else if swalloc_tls_state() == TsdState.uninitialized.rawValue {
      swalloc_tls_set_state(TsdState.disabled.rawValue)
    }
  }
  return copyOut(enabled, oldp, oldlenp)
}

func flushThreadCache() {
  guard let t = currentTcache() else { return }
  quarantineDrain(t)
  var c = 0
  while c < tcacheClassCount { tcacheFlush(t, sizeClass: c, keep: 0); c &+= 1 }
}


@_cdecl("swalloc_mallctl")
public func swallocCtl(_ name: UnsafePointer<CChar>?, _ oldp: UnsafeMutableRawPointer?,
                       _ oldlenp: UnsafeMutablePointer<Int>?, _ newp: UnsafeMutableRawPointer?,
                       _ newlen: Int) -> Int32 {
  guard let name else { return EINVAL }
  if !ensureBooted() { return EAGAIN }
  var n = NameCursor(p: name)
  if n.take("version") && n.atEnd {
    return readOnly(swallocVersion.utf8Start, oldp, oldlenp, newp)
  }
  n = NameCursor(p: name)
  if n.take("epoch") && n.atEnd {
    // Writing any 64-bit value advances the epoch (statistics are always
    // current, so nothing else needs refreshing).
    if newp != nil {
      if newlen != 8 { return EINVAL }
      ctlEpoch &+= 1
    }
    return copyOut(ctlEpoch, oldp, oldlenp)
  }
  n = NameCursor(p: name)
  if n.take("arenas.") {
    if n.take("narenas") && n.atEnd { return readOnly(UInt32(arenaCount), oldp, oldlenp, newp) }
    if n.take("page") && n.atEnd { return readOnly(pageSize, oldp, oldlenp, newp) }
    if n.take("quantum") && n.atEnd { return readOnly(quantum, oldp, oldlenp, newp) }
    if n.take("nbins") && n.atEnd { return readOnly(UInt32(smallClassCount), oldp, oldlenp, newp) }
    if n.take("tcache_max") && n.atEnd {
      let cached = tcacheClassCount == 0 ? 0 : sizeClassSize(tcacheClassCount &- 1)
      return readOnly(cached, oldp, oldlenp, newp)
    }
    if n.take("bin."), let i = n.number(), n.take(".") {
      if i >= smallClassCount { return ENOENT }
      if n.take("size") && n.atEnd { return readOnly(sizeClassSize(i), oldp, oldlenp, newp) }
      if n.take("nregs") && n.atEnd { return readOnly(binInfos[i].regionCount, oldp, oldlenp, newp) }
      if n.take("slab_size") && n.atEnd { return readOnly(UInt(binInfos[i].slabPages) << pageShift, oldp, oldlenp, newp) }
    }
    return ENOENT
  }
  n = NameCursor(p: name)
  if n.take("arena."), let i = n.number(), n.take(".purge"), n.atEnd {
    if i == arenaCount || i == ctlArenasAll { return action(oldp, newp) { _ = purgeAllArenas() } }
    if i > arenaCount { return ENOENT }
    return action(oldp, newp) { purgeArena(i) }
  }
  n = NameCursor(p: name)
  if n.take("arena."), let i = n.number(), n.take(".decay"), n.atEnd {
    // A decay step now: purges what the decay curve allows, as time passing does.
    if i == arenaCount || i == ctlArenasAll {
      return action(oldp, newp) { var k = 0; while k < arenaCount { decayArena(k); k &+= 1 } }
    }
    if i > arenaCount { return ENOENT }
    return action(oldp, newp) { decayArena(i) }
  }
  n = NameCursor(p: name)
  if n.take("thread.") {
    if n.take("tcache.") {
      if n.take("flush") && n.atEnd { return action(oldp, newp) { flushThreadCache() } }
      if n.take("enabled") && n.atEnd { return threadTcacheEnabledCtl(oldp, oldlenp, newp, newlen) }
      return ENOENT
    }
    if n.take("arena") && n.atEnd { return threadArenaCtl(oldp, oldlenp, newp, newlen) }
    if n.take("allocated") && n.atEnd { return readOnly(threadByteCounts().allocated, oldp, oldlenp, newp) }
    if n.take("deallocated") && n.atEnd { return readOnly(threadByteCounts().deallocated, oldp, oldlenp, newp) }
    return ENOENT
  }
  n = NameCursor(p: name)
  if n.take("stats.") {
    // Only the resident figure asks the kernel (mincore over every mapping).
    var peek = n
    let s = statsGather(measureResident: peek.take("resident"))
    let allocated = s.allocated
    let mapped = s.mapped
    let active = s.active
    let resident = s.resident
    if n.take("allocated") && n.atEnd { return readOnly(allocated, oldp, oldlenp, newp) }
    if n.take("active") && n.atEnd { return readOnly(active, oldp, oldlenp, newp) }
    if n.take("mapped") && n.atEnd { return readOnly(mapped, oldp, oldlenp, newp) }
    if n.take("resident") && n.atEnd { return readOnly(resident, oldp, oldlenp, newp) }
    if n.take("metadata") && n.atEnd { return readOnly(s.metadataMapped, oldp, oldlenp, newp) }
    if n.take("retained") && n.atEnd {
      // Mapped chunk pages that are neither in use nor resident.
      let chunkBytes = s.chunks &* chunkSize
      let used = active &- s.hugeBytes &+ ((s.dirtyPages &+ s.muzzyPages) << pageShift)
      return readOnly(chunkBytes > used ? chunkBytes &- used : 0, oldp, oldlenp, newp)
    }
    return ENOENT
  }
  n = NameCursor(p: name)
  if n.take("opt.") {
    if n.take("narenas") && n.atEnd { return readOnly(UInt32(arenaCount), oldp, oldlenp, newp) }
    if n.take("tcache_max") && n.atEnd { return readOnly(optTcacheMax, oldp, oldlenp, newp) }
    if n.take("tcache") && n.atEnd { return readOnly(optTcache, oldp, oldlenp, newp) }
    if n.take("dirty_decay_ms") && n.atEnd { return readOnly(optDirtyDecayMs, oldp, oldlenp, newp) }
    if n.take("muzzy_decay_ms") && n.atEnd { return readOnly(optMuzzyDecayMs, oldp, oldlenp, newp) }
    if n.take("background_thread") && n.atEnd { return readOnly(optBackgroundThread, oldp, oldlenp, newp) }
    if n.take("stats_print") && n.atEnd { return readOnly(optStatsPrint, oldp, oldlenp, newp) }
    return ENOENT
  }
  return ENOENT
}

// MARK: MIB interface

/// The name components a MIB can hold, by index; numeric components (the
/// one after "arena" or "bin") are stored as the number itself, so a caller
/// can reuse the MIB of "arena.0.purge" for every arena, as with jemalloc.
private let mibWords: (StaticString, StaticString, StaticString, StaticString, StaticString, StaticString,
                       StaticString, StaticString, StaticString, StaticString, StaticString, StaticString,
                       StaticString, StaticString, StaticString, StaticString, StaticString, StaticString,
                       StaticString, StaticString, StaticString, StaticString, StaticString, StaticString,
                       StaticString, StaticString, StaticString, StaticString, StaticString, StaticString,
                       StaticString, StaticString) =
  ("version", "epoch", "arenas", "narenas", "bin", "size", "arena", "purge", "thread", "tcache", "flush",
   "stats", "allocated", "active", "mapped", "resident", "retained", "opt", "tcache_max",
   "dirty_decay_ms", "muzzy_decay_ms", "background_thread", "stats_print", "deallocated",
   "page", "quantum", "nbins", "nregs", "slab_size", "metadata", "decay", "enabled")
private let mibWordCount = 32

private func mibWord(_ i: Int) -> StaticString {
  withUnsafeBytes(of: mibWords) { raw in
    raw.baseAddress.unsafelyUnwrapped.assumingMemoryBound(to: StaticString.self)[i]
  }
}

/// Whether component `index` of a name is numeric: the one after "arena"
/// or "bin" (word indices 6 and 4).
private func isNumericPosition(previousWord: Int) -> Bool { previousWord == 6 || previousWord == 4 }

@_cdecl("swalloc_mallctlnametomib")
public func swallocMallctlnametomib(_ name: UnsafePointer<CChar>?, _ mibp: UnsafeMutablePointer<Int>?,
                                    _ miblenp: UnsafeMutablePointer<Int>?) -> Int32 {
  guard let name, let mibp, let miblenp else { return EINVAL }
  var p = name
  var count = 0
  var previous = -1
  while true {
    if count == miblenp.pointee { return EINVAL }
    // One component, up to '.' or the end.
    var length = 0
    while p[length] != 0 && p[length] != 46 { length &+= 1 }
    if length == 0 { return ENOENT }
    var value = -1
    if isNumericPosition(previousWord: previous) {
      var n = 0
      var i = 0
      while i < length {
        let c = p[i]
        if c < 48 || c > 57 || i >= 9 { return ENOENT }
        n = n &* 10 &+ Int(c &- 48)
        i &+= 1
      }
      value = n
      previous = -1
    } else {
      var w = 0
      while w < mibWordCount {
        let word = mibWord(w)
        if word.utf8CodeUnitCount == length && memcmp(word.utf8Start, p, length) == 0 { break }
        w &+= 1
      }
      if w == mibWordCount { return ENOENT }
      value = w
      previous = w
    }
    mibp[count] = value
    count &+= 1
    if p[length] == 0 { break }
    p += length &+ 1
  }
  miblenp.pointee = count
  // Only names mallctl knows make a MIB.
  return swallocMallctlbymibCheck(mibp, count)
}

/// Rebuilds the dotted name of a MIB into `buffer` (capacity bytes);
/// false when the MIB is malformed or too long.
private func mibName(_ mib: UnsafePointer<Int>, _ count: Int, into buffer: UnsafeMutablePointer<CChar>, capacity: Int) -> Bool {
  var used = 0
  var previous = -1
  var i = 0
  while i < count {
    if i > 0 { if used &+ 1 >= capacity { return false }; buffer[used] = 46; used &+= 1 }
    let v = mib[i]
    if isNumericPosition(previousWord: previous) {
      if v < 0 || v > 999_999_999 { return false }
      var digits: (CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
      var n = v
      var k = 0
      withUnsafeMutableBytes(of: &digits) { d in
        repeat { d[k] = UInt8(48 &+ n % 10); n /= 10; k &+= 1 } while n != 0
        while k > 0 {
          k &-= 1
          if used &+ 1 < capacity { buffer[used] = CChar(bitPattern: d[k]); used &+= 1 }
        }
      }
      previous = -1
    } else {
      if v < 0 || v >= mibWordCount { return false }
      let word = mibWord(v)
      if used &+ word.utf8CodeUnitCount >= capacity { return false }
      var j = 0
      while j < word.utf8CodeUnitCount { buffer[used] = CChar(bitPattern: word.utf8Start[j]); used &+= 1; j &+= 1 }
      previous = v
    }
    i &+= 1
  }
  buffer[used] = 0
  return true
}

private func swallocMallctlbymibCheck(_ mib: UnsafePointer<Int>, _ count: Int) -> Int32 {
  var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
  return withUnsafeMutableBytes(of: &buffer) { raw -> Int32 in
    let name = raw.baseAddress.unsafelyUnwrapped.assumingMemoryBound(to: CChar.self)
    if !mibName(mib, count, into: name, capacity: raw.count) { return ENOENT }
    return ctlNameExists(name) ? 0 : ENOENT
  }
}

@_cdecl("swalloc_mallctlbymib")
public func swallocMallctlbymib(_ mib: UnsafePointer<Int>?, _ miblen: Int, _ oldp: UnsafeMutableRawPointer?,
                                _ oldlenp: UnsafeMutablePointer<Int>?, _ newp: UnsafeMutableRawPointer?,
                                _ newlen: Int) -> Int32 {
  guard let mib else { return EINVAL }
  var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
  return withUnsafeMutableBytes(of: &buffer) { raw -> Int32 in
    let name = raw.baseAddress.unsafelyUnwrapped.assumingMemoryBound(to: CChar.self)
    if !mibName(mib, miblen, into: name, capacity: raw.count) { return ENOENT }
    return swallocCtl(name, oldp, oldlenp, newp, newlen)
  }
}

/// Whether mallctl knows `name` (asked with nothing to read or write: a
/// known name answers 0 or EINVAL for an action, never ENOENT).
private func ctlNameExists(_ name: UnsafePointer<CChar>) -> Bool {
  var probe = NameCursor(p: name)
  // Actions would run if asked with no values: recognise them by shape.
  if probe.take("thread.tcache.flush") && probe.atEnd { return true }
  probe = NameCursor(p: name)
  if probe.take("arena."), let i = probe.number(), probe.take(".purge"), probe.atEnd {
    return i <= arenaCount || i == ctlArenasAll
  }
  return swallocCtl(name, nil, nil, nil, 0) != ENOENT
}

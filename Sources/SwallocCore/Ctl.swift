// The control interface, jemalloc's mallctl: `mallctl(name, oldp, oldlenp,
// newp, newlen)` (also exported as `swalloc_mallctl`) reads a value into
// *oldp when oldp and oldlenp are given, and writes *newp when newp is
// given; the lengths must equal the value's size. Returns 0, or jemalloc's
// errors: ENOENT for an unknown name (or an index naming nothing), EINVAL
// for a wrong length or value, EPERM for writing a read-only name, EFAULT
// for an operation the named arena cannot take.
//
// Every name is one case of `CtlName`, whose `node` gives its dotted pattern
// ("#" marks a numeric component: an arena, bin or large-class index), its
// index rule and its handler: the one table that mallctl, the MIB functions
// and README's compatibility table follow. A MIB holds the numbers of the
// numeric components and, in every other component, the name's case number,
// so a caller can change an index in a MIB and reuse it, as with jemalloc.
//
// Parsing never allocates: the name is compared in place.

import CSwallocPlatform
import Synchronization

/// jemalloc's MALLCTL_ARENAS_ALL.
let ctlArenasAll = 4096
/// Counts writes of "epoch" (statistics are always current).
var ctlEpoch: UInt = 0

// MARK: One call

/// A mallctl call: the caller's buffers and the name's numeric components.
struct CtlCall {
  let oldp: UnsafeMutableRawPointer?
  let oldlenp: UnsafeMutablePointer<Int>?
  let newp: UnsafeMutableRawPointer?
  let newlen: Int
  /// The first and second numeric components (arena, then bin or class).
  var i = 0
  var j = 0

  /// A read-only value.
  func read<T>(_ value: T) -> Int32 {
    if newp != nil { return EPERM }
    return copyOut(value)
  }

  func copyOut<T>(_ value: T) -> Int32 {
    guard let oldp, let oldlenp else { return 0 }
    if oldlenp.pointee != MemoryLayout<T>.size {
      oldlenp.pointee = MemoryLayout<T>.size
      return EINVAL
    }
    oldp.storeBytes(of: value, as: T.self)
    return 0
  }

  /// A value that can be written: checks both lengths before acting, hands
  /// a new value to `apply` (its error, if any, is the call's), then
  /// returns the value from before the write, as jemalloc does.
  func readWrite<T>(_ current: T, _ apply: (T) -> Int32) -> Int32 {
    if let oldp = oldp, let oldlenp, oldlenp.pointee != MemoryLayout<T>.size {
      _ = oldp
      oldlenp.pointee = MemoryLayout<T>.size
      return EINVAL
    }
    if let newp {
      if newlen != MemoryLayout<T>.size { return EINVAL }
      let rc = apply(newp.load(as: T.self))
      if rc != 0 { return rc }
    }
    return copyOut(current)
  }

  /// readWrite for a bool, read as a byte: any non-zero byte is true (a
  /// Swift Bool must not be loaded from a byte that is neither 0 nor 1).
  func readWriteBool(_ current: Bool, _ apply: (Bool) -> Int32) -> Int32 {
    readWrite(UInt8(current ? 1 : 0)) { apply($0 != 0) }
  }

  /// An action: nothing may be read or written.
  func action(_ body: () -> Void) -> Int32 {
    if oldp != nil || newp != nil { return EINVAL }
    body()
    return 0
  }

  /// An action that answers a value (arenas.create).
  func actionReading<T>(_ type: T.Type, _ body: () -> T?) -> Int32 {
    if newp != nil { return EINVAL }
    if let oldp = oldp, let oldlenp, oldlenp.pointee != MemoryLayout<T>.size {
      _ = oldp
      oldlenp.pointee = MemoryLayout<T>.size
      return EINVAL
    }
    guard let value = body() else { return EAGAIN }
    return copyOut(value)
  }
}

// MARK: The names

/// Which numbers a name's numeric components may take.
enum CtlIndex {
  case none
  /// arena.<i>: an existing arena index (created on demand).
  case arena
  /// arena.<i>.purge / decay: an arena, or narenas or 4096 for all of them.
  case arenaOrAll
  /// stats.arenas.<i>: an arena in use, or 4096 for all merged.
  case statsArena
  /// stats.arenas.<i>.bins.<j>: as statsArena, and a small class.
  case statsArenaBin
  /// arenas.bin.<i>: a small size class.
  case bin
  /// arenas.lextent.<i>: a large size class.
  case lextent
}

struct CtlNode {
  let pattern: StaticString
  let index: CtlIndex
  let handler: (CtlCall) -> Int32

  init(_ pattern: StaticString, _ index: CtlIndex = .none, _ handler: @escaping (CtlCall) -> Int32) {
    self.pattern = pattern
    self.index = index
    self.handler = handler
  }
}

/// Every name mallctl answers (README's jemalloc-compatibility table lists
/// them with their types). The raw value is the MIB's word component.
enum CtlName: Int {
  case version, epoch, backgroundThread, maxBackgroundThreads
  case configCacheOblivious, configDebug, configFill, configLazyLock, configMallocConf, configOptSafetyChecks
  case configProf, configProfLibgcc, configProfLibunwind, configStats, configUtrace, configXmalloc
  case optionAbort, optionAbortConf, optionNarenas, optionTcache, optionTcacheMax, optionLgTcacheMax, optionDirtyDecayMs
  case optionMuzzyDecayMs, optionBackgroundThread, optionMaxBackgroundThreads, optionStatsPrint, optionPercpuArena
  case optionDss, optionJunk, optionZero, optionRetain, optionSecure
  case threadArenaIndex, threadAllocated, threadAllocatedp, threadDeallocated, threadDeallocatedp
  case threadTcacheFlush, threadTcacheEnabled
  case arenaPurgeAction, arenaDecayAction, arenaResetAction, arenaDestroyAction, arenaDss, arenaDirtyDecayMs, arenaMuzzyDecayMs
  case arenasNarenas, arenasDefaultDirtyDecayMs, arenasDefaultMuzzyDecayMs, arenasQuantum, arenasPage, arenasTcacheMax
  case arenasNbins, arenasNhbins, arenasBinSize, arenasBinNregs, arenasBinSlabSize, arenasNlextents
  case arenasLextentSize, arenasCreate
  case statsAllocated, statsActive, statsMetadata, statsResident, statsMapped, statsRetained
  case statsArenasNthreads, statsArenasDss, statsArenasDirtyDecayMs, statsArenasMuzzyDecayMs
  case statsArenasPactive, statsArenasPdirty, statsArenasPmuzzy, statsArenasMapped
  case statsArenasSmallAllocated, statsArenasSmallNmalloc, statsArenasSmallNdalloc
  case statsArenasLargeAllocated, statsArenasLargeNmalloc, statsArenasLargeNdalloc
  case statsArenasBinsNmalloc, statsArenasBinsNdalloc, statsArenasBinsCurregs, statsArenasBinsCurslabs
  case statsArenasBinsNfills

  // swiftlint:disable:next cyclomatic_complexity function_body_length
  var node: CtlNode {
    switch self {
    case .version: return CtlNode("version") { $0.read(swallocVersion.utf8Start) }
    case .epoch:
      return CtlNode("epoch") { c in
        c.readWrite(UInt64(atomicUInt(&ctlEpoch).pointee.load(ordering: .relaxed))) { _ in
          atomicUInt(&ctlEpoch).pointee.add(1, ordering: .relaxed)
          return 0
        }
      }
    case .backgroundThread:
      return CtlNode("background_thread") { c in
        c.readWriteBool(backgroundThreadEnabled()) { backgroundThreadSetEnabled($0); return 0 }
      }
    case .maxBackgroundThreads:
      // One thread serves every arena; any positive limit is honoured.
      return CtlNode("max_background_threads") { c in c.readWrite(UInt(1)) { $0 == 0 ? EINVAL : 0 } }

    // What this build has: jemalloc's configure switches.
    case .configCacheOblivious: return CtlNode("config.cache_oblivious") { $0.read(false) }
    case .configDebug: return CtlNode("config.debug") { $0.read(false) }
    case .configFill: return CtlNode("config.fill") { $0.read(true) }
    case .configLazyLock: return CtlNode("config.lazy_lock") { $0.read(false) }
    case .configMallocConf: return CtlNode("config.malloc_conf") { $0.read(("" as StaticString).utf8Start) }
    case .configOptSafetyChecks: return CtlNode("config.opt_safety_checks") { $0.read(true) }
    case .configProf: return CtlNode("config.prof") { $0.read(false) }
    case .configProfLibgcc: return CtlNode("config.prof_libgcc") { $0.read(false) }
    case .configProfLibunwind: return CtlNode("config.prof_libunwind") { $0.read(false) }
    case .configStats: return CtlNode("config.stats") { $0.read(true) }
    case .configUtrace: return CtlNode("config.utrace") { $0.read(false) }
    case .configXmalloc: return CtlNode("config.xmalloc") { $0.read(false) }

    case .optionAbort: return CtlNode("opt.abort") { $0.read(true) }
    case .optionAbortConf: return CtlNode("opt.abort_conf") { $0.read(optAbortConf) }
    case .optionNarenas: return CtlNode("opt.narenas") { $0.read(UInt32(autoArenaCount)) }
    case .optionTcache: return CtlNode("opt.tcache") { $0.read(optTcache) }
    case .optionTcacheMax: return CtlNode("opt.tcache_max") { $0.read(optTcacheMax) }
    case .optionLgTcacheMax:
      return CtlNode("opt.lg_tcache_max") { c in
        c.read(optTcacheMax == 0 ? -1 : Int(63 &- optTcacheMax.leadingZeroBitCount))
      }
    case .optionDirtyDecayMs: return CtlNode("opt.dirty_decay_ms") { $0.read(optDirtyDecayMs) }
    case .optionMuzzyDecayMs: return CtlNode("opt.muzzy_decay_ms") { $0.read(optMuzzyDecayMs) }
    case .optionBackgroundThread: return CtlNode("opt.background_thread") { $0.read(optBackgroundThread) }
    case .optionMaxBackgroundThreads: return CtlNode("opt.max_background_threads") { $0.read(UInt(1)) }
    case .optionStatsPrint: return CtlNode("opt.stats_print") { $0.read(optStatsPrint) }
    case .optionPercpuArena: return CtlNode("opt.percpu_arena") { $0.read(("disabled" as StaticString).utf8Start) }
    case .optionDss: return CtlNode("opt.dss") { $0.read(("disabled" as StaticString).utf8Start) }
    case .optionJunk:
      return CtlNode("opt.junk") { c in
        let text: StaticString = optJunkAlloc ? (optJunkFree ? "true" : "alloc") : (optJunkFree ? "free" : "false")
        return c.read(text.utf8Start)
      }
    case .optionZero: return CtlNode("opt.zero") { $0.read(optZero) }
    case .optionRetain: return CtlNode("opt.retain") { $0.read(true) }
    case .optionSecure: return CtlNode("opt.secure") { $0.read(optSecure) }

    case .threadArenaIndex: return CtlNode("thread.arena", .none, threadArenaCtl)
    case .threadAllocated: return CtlNode("thread.allocated") { $0.read(threadByteCounts().allocated) }
    case .threadAllocatedp:
      return CtlNode("thread.allocatedp") { $0.read(threadCountersPublished().advanced(by: 0)) }
    case .threadDeallocated: return CtlNode("thread.deallocated") { $0.read(threadByteCounts().deallocated) }
    case .threadDeallocatedp:
      return CtlNode("thread.deallocatedp") { $0.read(threadCountersPublished().advanced(by: 1)) }
    case .threadTcacheFlush: return CtlNode("thread.tcache.flush") { $0.action { flushThreadCache() } }
    case .threadTcacheEnabled: return CtlNode("thread.tcache.enabled", .none, threadTcacheEnabledCtl)

    case .arenaPurgeAction:
      return CtlNode("arena.#.purge", .arenaOrAll) { c in
        c.action { if c.i >= arenaCount { _ = purgeAllArenas() } else { purgeArena(c.i) } }
      }
    case .arenaDecayAction:
      // A decay step now: purges what the decay curve allows, as time passing does.
      return CtlNode("arena.#.decay", .arenaOrAll) { c in
        c.action {
          if c.i < arenaCount { decayArena(c.i); return }
          var k = 0
          while k < arenaCount { decayArena(k); k &+= 1 }
        }
      }
    case .arenaResetAction: return CtlNode("arena.#.reset", .arena) { c in arenaResetCtl(c, destroy: false) }
    case .arenaDestroyAction: return CtlNode("arena.#.destroy", .arena) { c in arenaResetCtl(c, destroy: true) }
    case .arenaDss:
      // No sbrk: every arena maps its chunks; "disabled" is the only precedence.
      return CtlNode("arena.#.dss", .arena) { c in
        c.readWrite(("disabled" as StaticString).utf8Start) { text in
          strcmp(text, "disabled") == 0 ? 0 : strcmp(text, "primary") == 0 || strcmp(text, "secondary") == 0 ? EFAULT : EINVAL
        }
      }
    case .arenaDirtyDecayMs:
      return CtlNode("arena.#.dirty_decay_ms", .arena) { c in arenaDecayTimeCtl(c, dirty: true) }
    case .arenaMuzzyDecayMs:
      return CtlNode("arena.#.muzzy_decay_ms", .arena) { c in arenaDecayTimeCtl(c, dirty: false) }

    case .arenasNarenas: return CtlNode("arenas.narenas") { $0.read(UInt32(arenaCount)) }
    case .arenasDefaultDirtyDecayMs:
      return CtlNode("arenas.dirty_decay_ms") { c in
        c.readWrite(arenasDirtyDecayMs) { ms in
          if ms < -1 { return EINVAL }
          withLock(&arenasLock) { arenasDirtyDecayMs = ms }
          return 0
        }
      }
    case .arenasDefaultMuzzyDecayMs:
      return CtlNode("arenas.muzzy_decay_ms") { c in
        c.readWrite(arenasMuzzyDecayMs) { ms in
          if ms < -1 { return EINVAL }
          withLock(&arenasLock) { arenasMuzzyDecayMs = ms }
          return 0
        }
      }
    case .arenasQuantum: return CtlNode("arenas.quantum") { $0.read(quantum) }
    case .arenasPage: return CtlNode("arenas.page") { $0.read(pageSize) }
    case .arenasTcacheMax:
      return CtlNode("arenas.tcache_max") { c in
        c.read(tcacheClassCount == 0 ? 0 : sizeClassSize(tcacheClassCount &- 1))
      }
    case .arenasNbins: return CtlNode("arenas.nbins") { $0.read(UInt32(smallClassCount)) }
    case .arenasNhbins: return CtlNode("arenas.nhbins") { $0.read(UInt32(tcacheClassCount)) }
    case .arenasBinSize: return CtlNode("arenas.bin.#.size", .bin) { $0.read(sizeClassSize($0.i)) }
    case .arenasBinNregs: return CtlNode("arenas.bin.#.nregs", .bin) { $0.read(binInfos[$0.i].regionCount) }
    case .arenasBinSlabSize:
      return CtlNode("arenas.bin.#.slab_size", .bin) { $0.read(UInt(binInfos[$0.i].slabPages) << pageShift) }
    case .arenasNlextents: return CtlNode("arenas.nlextents") { $0.read(UInt32(classCount &- smallClassCount)) }
    case .arenasLextentSize:
      return CtlNode("arenas.lextent.#.size", .lextent) { $0.read(sizeClassSize(smallClassCount &+ $0.i)) }
    case .arenasCreate:
      return CtlNode("arenas.create") { c in
        c.actionReading(UInt32.self) { arenaCreateExplicit().map { UInt32($0) } }
      }

    case .statsAllocated: return CtlNode("stats.allocated") { $0.read(statsGather().allocated) }
    case .statsActive: return CtlNode("stats.active") { $0.read(statsGather().active) }
    case .statsMetadata: return CtlNode("stats.metadata") { $0.read(statsGather().metadataMapped) }
    case .statsResident:
      // Measured: what the kernel holds of swalloc's mappings (mincore).
      return CtlNode("stats.resident") { $0.read(statsGather(measureResident: true).resident) }
    case .statsMapped: return CtlNode("stats.mapped") { $0.read(statsGather().mapped) }
    case .statsRetained:
      return CtlNode("stats.retained") { c in
        // Mapped chunk pages that are neither in use nor resident.
        let s = statsGather()
        let chunkBytes = s.chunks &* chunkSize
        let used = s.active &- s.hugeBytes &+ ((s.dirtyPages &+ s.muzzyPages) << pageShift)
        return c.read(chunkBytes > used ? chunkBytes &- used : 0)
      }

    case .statsArenasNthreads:
      return CtlNode("stats.arenas.#.nthreads", .statsArena) { $0.read(UInt32(arenaStats($0).threads)) }
    case .statsArenasDss:
      return CtlNode("stats.arenas.#.dss", .statsArena) { $0.read(("disabled" as StaticString).utf8Start) }
    case .statsArenasDirtyDecayMs:
      return CtlNode("stats.arenas.#.dirty_decay_ms", .statsArena) { c in
        c.read(c.i == ctlArenasAll ? arenasDirtyDecayMs : arenas[c.i].unsafelyUnwrapped.pointee.dirtyDecayMs)
      }
    case .statsArenasMuzzyDecayMs:
      return CtlNode("stats.arenas.#.muzzy_decay_ms", .statsArena) { c in
        c.read(c.i == ctlArenasAll ? arenasMuzzyDecayMs : arenas[c.i].unsafelyUnwrapped.pointee.muzzyDecayMs)
      }
    case .statsArenasPactive:
      return CtlNode("stats.arenas.#.pactive", .statsArena) { c in
        let s = arenaStats(c)
        return c.read(s.slabPages &+ ((s.largeBytes &+ s.hugeBytes) >> pageShift))
      }
    case .statsArenasPdirty: return CtlNode("stats.arenas.#.pdirty", .statsArena) { $0.read(arenaStats($0).dirtyPages) }
    case .statsArenasPmuzzy: return CtlNode("stats.arenas.#.pmuzzy", .statsArena) { $0.read(arenaStats($0).muzzyPages) }
    case .statsArenasMapped:
      return CtlNode("stats.arenas.#.mapped", .statsArena) { c in
        let s = arenaStats(c)
        return c.read(s.chunks &* chunkSize &+ s.hugeMappedBytes &+ s.hugeCachedBytes)
      }
    case .statsArenasSmallAllocated:
      return CtlNode("stats.arenas.#.small.allocated", .statsArena) { $0.read(arenaStats($0).smallBytes) }
    case .statsArenasSmallNmalloc:
      return CtlNode("stats.arenas.#.small.nmalloc", .statsArena) { $0.read(UInt64(arenaStats($0).smallMallocs)) }
    case .statsArenasSmallNdalloc:
      return CtlNode("stats.arenas.#.small.ndalloc", .statsArena) { $0.read(UInt64(arenaStats($0).smallFrees)) }
    case .statsArenasLargeAllocated:
      return CtlNode("stats.arenas.#.large.allocated", .statsArena) { c in
        let s = arenaStats(c)
        return c.read(s.largeBytes &+ s.hugeBytes)
      }
    case .statsArenasLargeNmalloc:
      return CtlNode("stats.arenas.#.large.nmalloc", .statsArena) { $0.read(UInt64(arenaStats($0).largeMallocs)) }
    case .statsArenasLargeNdalloc:
      return CtlNode("stats.arenas.#.large.ndalloc", .statsArena) { $0.read(UInt64(arenaStats($0).largeFrees)) }
    case .statsArenasBinsNmalloc:
      return CtlNode("stats.arenas.#.bins.#.nmalloc", .statsArenaBin) { $0.read(UInt64(arenaClassStats($0).mallocs)) }
    case .statsArenasBinsNdalloc:
      return CtlNode("stats.arenas.#.bins.#.ndalloc", .statsArenaBin) { $0.read(UInt64(arenaClassStats($0).frees)) }
    case .statsArenasBinsCurregs:
      return CtlNode("stats.arenas.#.bins.#.curregs", .statsArenaBin) { $0.read(arenaClassStats($0).regions) }
    case .statsArenasBinsCurslabs:
      return CtlNode("stats.arenas.#.bins.#.curslabs", .statsArenaBin) { $0.read(arenaClassStats($0).slabs) }
    case .statsArenasBinsNfills:
      return CtlNode("stats.arenas.#.bins.#.nfills", .statsArenaBin) { $0.read(UInt64(arenaClassStats($0).refills)) }
    }
  }
}

/// stats.arenas.<i>: one arena's figures, or (4096) all arenas merged with
/// the huge blocks, which belong to no arena.
private func arenaStats(_ c: CtlCall) -> StatsTotals {
  var s = statsGather(only: c.i == ctlArenasAll ? -1 : c.i)
  if c.i != ctlArenasAll { s.hugeBytes = 0; s.hugeMappedBytes = 0; s.hugeCachedBytes = 0 }
  return s
}

private func arenaClassStats(_ c: CtlCall) -> ClassStats {
  classStats(c.j, only: c.i == ctlArenasAll ? -1 : c.i)
}

private func withLock(_ m: UnsafeMutablePointer<Mutex>, _ body: () -> Void) {
  mutexLock(m)
  body()
  mutexUnlock(m)
}

/// Whether the numeric components fit the name's rule.
private func ctlIndicesValid(_ kind: CtlIndex, _ i: Int, _ j: Int) -> Bool {
  switch kind {
  case .none: return true
  case .arena: return i < arenaCount
  case .arenaOrAll: return i <= arenaCount || i == ctlArenasAll
  case .statsArena, .statsArenaBin:
    if kind == .statsArenaBin && j >= smallClassCount { return false }
    if i == ctlArenasAll { return true }
    if i >= arenaCount { return false }
    mutexLock(&arenasLock)
    let exists = arenas[i] != nil
    mutexUnlock(&arenasLock)
    return exists
  case .bin: return i < smallClassCount
  case .lextent: return i < classCount &- smallClassCount
  }
}

// MARK: Matching names

/// Matches a NUL-terminated name against a pattern; fills the numeric
/// components into `numbers` (at most two) and returns the component count,
/// or nil when the name does not fit.
private func ctlMatch(_ name: UnsafePointer<CChar>, _ pattern: StaticString, _ numbers: inout (Int, Int)) -> Int? {
  let pat = pattern.utf8Start
  let patLength = pattern.utf8CodeUnitCount
  var p = 0
  var n = 0
  var components = 1
  var numberIndex = 0
  while p < patLength {
    let want = pat[p]
    if want == 35 {  // '#': 1 to 9 digits
      var value = 0
      var digits = 0
      while name[n] >= 48 && name[n] <= 57 {
        if digits == 9 { return nil }
        value = value &* 10 &+ Int(name[n] &- 48)
        digits &+= 1
        n &+= 1
      }
      if digits == 0 { return nil }
      if numberIndex == 0 { numbers.0 = value } else { numbers.1 = value }
      numberIndex &+= 1
      p &+= 1
      continue
    }
    if UInt8(bitPattern: name[n]) != want { return nil }
    if want == 46 { components &+= 1 }
    p &+= 1
    n &+= 1
  }
  return name[n] == 0 ? components : nil
}

/// The name's table entry and numeric components, or nil.
private func ctlLookup(_ name: UnsafePointer<CChar>) -> (CtlName, Int, Int, Int)? {
  var k = 0
  while let entry = CtlName(rawValue: k) {
    var numbers = (0, 0)
    if let components = ctlMatch(name, entry.node.pattern, &numbers) {
      return (entry, numbers.0, numbers.1, components)
    }
    k &+= 1
  }
  return nil
}

private func ctlRun(_ entry: CtlName, _ i: Int, _ j: Int, _ oldp: UnsafeMutableRawPointer?,
                    _ oldlenp: UnsafeMutablePointer<Int>?, _ newp: UnsafeMutableRawPointer?, _ newlen: Int) -> Int32 {
  let node = entry.node
  if !ctlIndicesValid(node.index, i, j) { return ENOENT }
  return node.handler(CtlCall(oldp: oldp, oldlenp: oldlenp, newp: newp, newlen: newlen, i: i, j: j))
}

@_cdecl("swalloc_mallctl")
public func swallocCtl(_ name: UnsafePointer<CChar>?, _ oldp: UnsafeMutableRawPointer?,
                       _ oldlenp: UnsafeMutablePointer<Int>?, _ newp: UnsafeMutableRawPointer?,
                       _ newlen: Int) -> Int32 {
  guard let name else { return EINVAL }
  if !ensureBooted() { return EAGAIN }
  guard let (entry, i, j, _) = ctlLookup(name) else { return ENOENT }
  return ctlRun(entry, i, j, oldp, oldlenp, newp, newlen)
}

// MARK: MIB interface

@_cdecl("swalloc_mallctlnametomib")
public func swallocMallctlnametomib(_ name: UnsafePointer<CChar>?, _ mibp: UnsafeMutablePointer<Int>?,
                                    _ miblenp: UnsafeMutablePointer<Int>?) -> Int32 {
  guard let name, let mibp, let miblenp else { return EINVAL }
  if !ensureBooted() { return EAGAIN }
  guard let (entry, i, j, components) = ctlLookup(name) else { return ENOENT }
  if components > miblenp.pointee { return EINVAL }
  if !ctlIndicesValid(entry.node.index, i, j) { return ENOENT }
  // Word components hold the case number, numeric ones their number.
  let pattern = entry.node.pattern
  var component = 0
  var numberIndex = 0
  var p = 0
  var numeric = false
  while p <= pattern.utf8CodeUnitCount {
    let c: UInt8 = p < pattern.utf8CodeUnitCount ? pattern.utf8Start[p] : 46
    if c == 35 { numeric = true }
    if c == 46 {
      if numeric {
        mibp[component] = numberIndex == 0 ? i : j
        numberIndex &+= 1
      } else {
        mibp[component] = entry.rawValue
      }
      component &+= 1
      numeric = false
    }
    p &+= 1
  }
  miblenp.pointee = components
  return 0
}

@_cdecl("swalloc_mallctlbymib")
public func swallocMallctlbymib(_ mib: UnsafePointer<Int>?, _ miblen: Int, _ oldp: UnsafeMutableRawPointer?,
                                _ oldlenp: UnsafeMutablePointer<Int>?, _ newp: UnsafeMutableRawPointer?,
                                _ newlen: Int) -> Int32 {
  guard let mib else { return EINVAL }
  if !ensureBooted() { return EAGAIN }
  if miblen < 1 { return ENOENT }
  guard let entry = CtlName(rawValue: mib[0]) else { return ENOENT }
  // The MIB must have the pattern's shape: the case number in every word
  // component, a number (0 ... 999999999) in every numeric one.
  let pattern = entry.node.pattern
  var component = 0
  var numbers = (0, 0)
  var numberIndex = 0
  var p = 0
  var numeric = false
  while p <= pattern.utf8CodeUnitCount {
    let c: UInt8 = p < pattern.utf8CodeUnitCount ? pattern.utf8Start[p] : 46
    if c == 35 { numeric = true }
    if c == 46 {
      if component >= miblen { return ENOENT }
      let v = mib[component]
      if numeric {
        if v < 0 || v > 999_999_999 { return ENOENT }
        if numberIndex == 0 { numbers.0 = v } else { numbers.1 = v }
        numberIndex &+= 1
      } else if v != entry.rawValue {
        return ENOENT
      }
      component &+= 1
      numeric = false
    }
    p &+= 1
  }
  if component != miblen { return ENOENT }
  return ctlRun(entry, numbers.0, numbers.1, oldp, oldlenp, newp, newlen)
}

// MARK: Handlers that act

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

/// arena.<i>.reset / destroy: only for arenas made by arenas.create
/// (EFAULT otherwise, as jemalloc). Destroying also needs that no thread is
/// bound to the arena (EFAULT); the index is then free for arenas.create.
private func arenaResetCtl(_ c: CtlCall, destroy: Bool) -> Int32 {
  if c.oldp != nil || c.newp != nil { return EINVAL }
  if c.i < autoArenaCount { return EFAULT }
  mutexLock(&arenasLock)
  let arena = arenas[c.i]
  let bound = arenaThreadCounts[c.i]
  mutexUnlock(&arenasLock)
  guard let a = arena, !a.pointee.destroyed else { return EFAULT }
  if destroy && bound != 0 { return EFAULT }
  arenaReset(a)
  if destroy {
    mutexLock(&arenasLock)
    a.pointee.destroyed = true
    mutexUnlock(&arenasLock)
  }
  return 0
}

/// arena.<i>.dirty_decay_ms / muzzy_decay_ms (ssize_t): the arena's decay
/// time; a write applies from the arena's next decay step.
private func arenaDecayTimeCtl(_ c: CtlCall, dirty: Bool) -> Int32 {
  guard let a = arenaGetOrCreate(c.i) else { return EFAULT }
  mutexLock(&a.pointee.extentLock)
  let current = dirty ? a.pointee.dirtyDecayMs : a.pointee.muzzyDecayMs
  mutexUnlock(&a.pointee.extentLock)
  return c.readWrite(current) { ms in
    if ms < -1 { return EINVAL }
    mutexLock(&a.pointee.extentLock)
    if dirty { a.pointee.dirtyDecayMs = ms } else { a.pointee.muzzyDecayMs = ms }
    mutexUnlock(&a.pointee.extentLock)
    return 0
  }
}

/// thread.arena: reads the calling thread's arena index (unsigned); writing
/// an index binds the thread to that arena (created if needed) for its next
/// refills and large allocations; blocks it already holds keep their arena.
/// A thread without a cache (tcache:false) uses arena 0 and cannot move:
/// EAGAIN. An index past arenas.narenas: EFAULT, as jemalloc.
private func threadArenaCtl(_ c: CtlCall) -> Int32 {
  let t = tsdFetchTcache()
  let current = t.map { UInt32($0.pointee.arena.pointee.index) } ?? 0
  return c.readWrite(current) { new in
    let index = Int(new)
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
    return 0
  }
}

/// thread.tcache.enabled (bool): reads whether the calling thread caches;
/// writing false returns its cached blocks and its cache, writing true lets
/// its next allocation build a new one (with tcache:false, junk or zero,
/// caching stays off and writing true changes nothing).
private func threadTcacheEnabledCtl(_ c: CtlCall) -> Int32 {
  let enabled = currentTcache() != nil || swalloc_tls_state() == TsdState.uninitialized.rawValue && optTcache && !optFillsMemory
  return c.readWriteBool(enabled) { enable in
    if enable {
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
    return 0
  }
}

func flushThreadCache() {
  guard let t = currentTcache() else { return }
  quarantineDrain(t)
  var c = 0
  while c < tcacheClassCount { tcacheFlush(t, sizeClass: c, keep: 0); c &+= 1 }
}

// The control interface, jemalloc's mallctl: `mallctl(name, oldp, oldlenp,
// newp, newlen)` (also exported as `swalloc_mallctl`) reads a value into
// *oldp when oldp and oldlenp are given, and writes *newp when newp is
// given; the lengths must equal the value's size. Returns 0, or jemalloc's
// errors: ENOENT for an unknown name (or an index naming nothing), EINVAL
// for a wrong length or value, EPERM for writing a read-only name, EFAULT
// for an operation the named arena cannot take.
//
// Every name is one case of `CtlName`, whose `entry` gives its dotted pattern
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
nonisolated(unsafe) var ctlEpoch: UInt = 0

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

/// What a table entry gives: its shape (pattern and index rule), when asked
/// without a call, or the call's result.
enum CtlAnswer {
  case shape(StaticString, CtlIndex)
  case result(Int32)
}

/// One table entry: the pattern ("#": a numeric component), its index rule
/// and, for a call, what it does. The handler is a non-escaping closure, so
/// the table costs no closure contexts (no Swift runtime calls).
@inline(__always)
private func node(_ pattern: StaticString, _ index: CtlIndex, _ call: CtlCall?,
                  _ handler: (CtlCall) -> Int32) -> CtlAnswer {
  guard let call else { return .shape(pattern, index) }
  return .result(handler(call))
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
  case optionProf, optionProfActive, optionLgProfSample, optionProfPrefix, optionProfFinal, optionProfGdump
  case optionProfLeak, profActiveCtl, profDumpAction, profResetAction, profLgSample, profGdumpCtl

  var shape: (pattern: StaticString, index: CtlIndex) {
    if case .shape(let pattern, let index) = entry(nil) { return (pattern, index) }
    fatal("mallctl table: an entry acted without a call")
  }

  /// The table: each name's pattern, index rule and handler.
  func entry(_ call: CtlCall?) -> CtlAnswer {
    switch self {
    case .version: return node("version", .none, call) { $0.read(swallocVersion.utf8Start) }
    case .epoch:
      return node("epoch", .none, call) { c in
        c.readWrite(UInt64(atomicUInt(&ctlEpoch).pointee.load(ordering: .relaxed))) { _ in
          atomicUInt(&ctlEpoch).pointee.add(1, ordering: .relaxed)
          return 0
        }
      }
    case .backgroundThread:
      return node("background_thread", .none, call) { c in
        c.readWriteBool(backgroundThreadEnabled()) { backgroundThreadSetEnabled($0); return 0 }
      }
    case .maxBackgroundThreads:
      // One thread serves every arena; any positive limit is honoured.
      return node("max_background_threads", .none, call) { c in c.readWrite(UInt(1)) { $0 == 0 ? EINVAL : 0 } }

    // What this build has: jemalloc's configure switches.
    case .configCacheOblivious: return node("config.cache_oblivious", .none, call) { $0.read(false) }
    // Internal invariants are checked (scripts/build-lib.sh --debug).
    case .configDebug: return node("config.debug", .none, call) { $0.read(invariantsChecked) }
    case .configFill: return node("config.fill", .none, call) { $0.read(true) }
    case .configLazyLock: return node("config.lazy_lock", .none, call) { $0.read(false) }
    case .configMallocConf: return node("config.malloc_conf", .none, call) { $0.read(("" as StaticString).utf8Start) }
    case .configOptSafetyChecks: return node("config.opt_safety_checks", .none, call) { $0.read(true) }
    case .configProf: return node("config.prof", .none, call) { $0.read(true) }
    // Backtraces come from glibc's backtrace(3), i.e. libgcc's unwinder.
    case .configProfLibgcc: return node("config.prof_libgcc", .none, call) { $0.read(true) }
    case .configProfLibunwind: return node("config.prof_libunwind", .none, call) { $0.read(false) }
    case .configStats: return node("config.stats", .none, call) { $0.read(true) }
    case .configUtrace: return node("config.utrace", .none, call) { $0.read(false) }
    case .configXmalloc: return node("config.xmalloc", .none, call) { $0.read(false) }

    case .optionAbort: return node("opt.abort", .none, call) { $0.read(true) }
    case .optionAbortConf: return node("opt.abort_conf", .none, call) { $0.read(optAbortConf) }
    case .optionNarenas: return node("opt.narenas", .none, call) { $0.read(UInt32(autoArenaCount)) }
    case .optionTcache: return node("opt.tcache", .none, call) { $0.read(optTcache) }
    case .optionTcacheMax: return node("opt.tcache_max", .none, call) { $0.read(optTcacheMax) }
    case .optionLgTcacheMax:
      return node("opt.lg_tcache_max", .none, call) { c in
        c.read(optTcacheMax == 0 ? -1 : Int(63 &- optTcacheMax.leadingZeroBitCount))
      }
    case .optionDirtyDecayMs: return node("opt.dirty_decay_ms", .none, call) { $0.read(optDirtyDecayMs) }
    case .optionMuzzyDecayMs: return node("opt.muzzy_decay_ms", .none, call) { $0.read(optMuzzyDecayMs) }
    case .optionBackgroundThread: return node("opt.background_thread", .none, call) { $0.read(optBackgroundThread) }
    case .optionMaxBackgroundThreads: return node("opt.max_background_threads", .none, call) { $0.read(UInt(1)) }
    case .optionStatsPrint: return node("opt.stats_print", .none, call) { $0.read(optStatsPrint) }
    case .optionPercpuArena: return node("opt.percpu_arena", .none, call) { $0.read(("disabled" as StaticString).utf8Start) }
    case .optionDss: return node("opt.dss", .none, call) { $0.read(("disabled" as StaticString).utf8Start) }
    case .optionJunk:
      return node("opt.junk", .none, call) { c in
        let text: StaticString = optJunkAlloc ? (optJunkFree ? "true" : "alloc") : (optJunkFree ? "free" : "false")
        return c.read(text.utf8Start)
      }
    case .optionZero: return node("opt.zero", .none, call) { $0.read(optZero) }
    case .optionRetain: return node("opt.retain", .none, call) { $0.read(true) }
    case .optionSecure: return node("opt.secure", .none, call) { $0.read(optSecure) }

    case .threadArenaIndex: return node("thread.arena", .none, call, threadArenaCtl)
    case .threadAllocated: return node("thread.allocated", .none, call) { $0.read(threadByteCounts().allocated) }
    case .threadAllocatedp:
      return node("thread.allocatedp", .none, call) { $0.read(threadCountersPublished().advanced(by: 0)) }
    case .threadDeallocated: return node("thread.deallocated", .none, call) { $0.read(threadByteCounts().deallocated) }
    case .threadDeallocatedp:
      return node("thread.deallocatedp", .none, call) { $0.read(threadCountersPublished().advanced(by: 1)) }
    case .threadTcacheFlush: return node("thread.tcache.flush", .none, call) { $0.action { flushThreadCache() } }
    case .threadTcacheEnabled: return node("thread.tcache.enabled", .none, call, threadTcacheEnabledCtl)

    case .arenaPurgeAction:
      return node("arena.#.purge", .arenaOrAll, call) { c in
        c.action { if c.i >= arenaCount { _ = purgeAllArenas() } else { purgeArena(c.i) } }
      }
    case .arenaDecayAction:
      // A decay step now: purges what the decay curve allows, as time passing does.
      return node("arena.#.decay", .arenaOrAll, call) { c in
        c.action {
          if c.i < arenaCount { decayArena(c.i); return }
          var k = 0
          while k < arenaCount { decayArena(k); k &+= 1 }
        }
      }
    case .arenaResetAction: return node("arena.#.reset", .arena, call) { c in arenaResetCtl(c, destroy: false) }
    case .arenaDestroyAction: return node("arena.#.destroy", .arena, call) { c in arenaResetCtl(c, destroy: true) }
    case .arenaDss:
      // No sbrk: every arena maps its chunks; "disabled" is the only precedence.
      return node("arena.#.dss", .arena, call) { c in
        c.readWrite(("disabled" as StaticString).utf8Start) { text in
          strcmp(text, "disabled") == 0 ? 0 : strcmp(text, "primary") == 0 || strcmp(text, "secondary") == 0 ? EFAULT : EINVAL
        }
      }
    case .arenaDirtyDecayMs:
      return node("arena.#.dirty_decay_ms", .arena, call) { c in arenaDecayTimeCtl(c, dirty: true) }
    case .arenaMuzzyDecayMs:
      return node("arena.#.muzzy_decay_ms", .arena, call) { c in arenaDecayTimeCtl(c, dirty: false) }

    case .arenasNarenas: return node("arenas.narenas", .none, call) { $0.read(UInt32(arenaCount)) }
    case .arenasDefaultDirtyDecayMs:
      return node("arenas.dirty_decay_ms", .none, call) { c in
        c.readWrite(arenasDirtyDecayMs) { ms in
          if ms < -1 { return EINVAL }
          withLock(&arenasLock) { arenasDirtyDecayMs = ms }
          return 0
        }
      }
    case .arenasDefaultMuzzyDecayMs:
      return node("arenas.muzzy_decay_ms", .none, call) { c in
        c.readWrite(arenasMuzzyDecayMs) { ms in
          if ms < -1 { return EINVAL }
          withLock(&arenasLock) { arenasMuzzyDecayMs = ms }
          return 0
        }
      }
    case .arenasQuantum: return node("arenas.quantum", .none, call) { $0.read(quantum) }
    case .arenasPage: return node("arenas.page", .none, call) { $0.read(pageSize) }
    case .arenasTcacheMax:
      return node("arenas.tcache_max", .none, call) { c in
        c.read(tcacheClassCount == 0 ? 0 : sizeClassSize(tcacheClassCount &- 1))
      }
    case .arenasNbins: return node("arenas.nbins", .none, call) { $0.read(UInt32(smallClassCount)) }
    case .arenasNhbins: return node("arenas.nhbins", .none, call) { $0.read(UInt32(tcacheClassCount)) }
    case .arenasBinSize: return node("arenas.bin.#.size", .bin, call) { $0.read(sizeClassSize($0.i)) }
    case .arenasBinNregs: return node("arenas.bin.#.nregs", .bin, call) { $0.read(binInfos[$0.i].regionCount) }
    case .arenasBinSlabSize:
      return node("arenas.bin.#.slab_size", .bin, call) { $0.read(UInt(binInfos[$0.i].slabPages) << pageShift) }
    case .arenasNlextents: return node("arenas.nlextents", .none, call) { $0.read(UInt32(classCount &- smallClassCount)) }
    case .arenasLextentSize:
      return node("arenas.lextent.#.size", .lextent, call) { $0.read(sizeClassSize(smallClassCount &+ $0.i)) }
    case .arenasCreate:
      return node("arenas.create", .none, call) { c in
        c.actionReading(UInt32.self) { arenaCreateExplicit().map { UInt32($0) } }
      }

    case .statsAllocated: return node("stats.allocated", .none, call) { $0.read(statsGather().allocated) }
    case .statsActive: return node("stats.active", .none, call) { $0.read(statsGather().active) }
    case .statsMetadata: return node("stats.metadata", .none, call) { $0.read(statsGather().metadataMapped) }
    case .statsResident:
      // Measured: what the kernel holds of swalloc's mappings (mincore).
      return node("stats.resident", .none, call) { $0.read(statsGather(measureResident: true).resident) }
    case .statsMapped: return node("stats.mapped", .none, call) { $0.read(statsGather().mapped) }
    case .statsRetained:
      return node("stats.retained", .none, call) { c in
        // Mapped chunk pages that are neither in use nor resident.
        let s = statsGather()
        let chunkBytes = s.chunks &* chunkSize
        let used = s.active &- s.hugeBytes &+ ((s.dirtyPages &+ s.muzzyPages) << pageShift)
        return c.read(chunkBytes > used ? chunkBytes &- used : 0)
      }

    case .statsArenasNthreads:
      return node("stats.arenas.#.nthreads", .statsArena, call) { $0.read(UInt32(arenaStats($0).threads)) }
    case .statsArenasDss:
      return node("stats.arenas.#.dss", .statsArena, call) { $0.read(("disabled" as StaticString).utf8Start) }
    case .statsArenasDirtyDecayMs:
      return node("stats.arenas.#.dirty_decay_ms", .statsArena, call) { c in
        c.read(c.i == ctlArenasAll ? arenasDirtyDecayMs : arenas[c.i].unsafelyUnwrapped.pointee.dirtyDecayMs)
      }
    case .statsArenasMuzzyDecayMs:
      return node("stats.arenas.#.muzzy_decay_ms", .statsArena, call) { c in
        c.read(c.i == ctlArenasAll ? arenasMuzzyDecayMs : arenas[c.i].unsafelyUnwrapped.pointee.muzzyDecayMs)
      }
    case .statsArenasPactive:
      return node("stats.arenas.#.pactive", .statsArena, call) { c in
        let s = arenaStats(c)
        return c.read(s.slabPages &+ ((s.largeBytes &+ s.hugeBytes) >> pageShift))
      }
    case .statsArenasPdirty: return node("stats.arenas.#.pdirty", .statsArena, call) { $0.read(arenaStats($0).dirtyPages) }
    case .statsArenasPmuzzy: return node("stats.arenas.#.pmuzzy", .statsArena, call) { $0.read(arenaStats($0).muzzyPages) }
    case .statsArenasMapped:
      return node("stats.arenas.#.mapped", .statsArena, call) { c in
        let s = arenaStats(c)
        return c.read(s.chunks &* chunkSize &+ s.hugeMappedBytes &+ s.hugeCachedBytes)
      }
    case .statsArenasSmallAllocated:
      return node("stats.arenas.#.small.allocated", .statsArena, call) { $0.read(arenaStats($0).smallBytes) }
    case .statsArenasSmallNmalloc:
      return node("stats.arenas.#.small.nmalloc", .statsArena, call) { $0.read(UInt64(arenaStats($0).smallMallocs)) }
    case .statsArenasSmallNdalloc:
      return node("stats.arenas.#.small.ndalloc", .statsArena, call) { $0.read(UInt64(arenaStats($0).smallFrees)) }
    case .statsArenasLargeAllocated:
      return node("stats.arenas.#.large.allocated", .statsArena, call) { c in
        let s = arenaStats(c)
        return c.read(s.largeBytes &+ s.hugeBytes)
      }
    case .statsArenasLargeNmalloc:
      return node("stats.arenas.#.large.nmalloc", .statsArena, call) { $0.read(UInt64(arenaStats($0).largeMallocs)) }
    case .statsArenasLargeNdalloc:
      return node("stats.arenas.#.large.ndalloc", .statsArena, call) { $0.read(UInt64(arenaStats($0).largeFrees)) }
    case .statsArenasBinsNmalloc:
      return node("stats.arenas.#.bins.#.nmalloc", .statsArenaBin, call) { $0.read(UInt64(arenaClassStats($0).mallocs)) }
    case .statsArenasBinsNdalloc:
      return node("stats.arenas.#.bins.#.ndalloc", .statsArenaBin, call) { $0.read(UInt64(arenaClassStats($0).frees)) }
    case .statsArenasBinsCurregs:
      return node("stats.arenas.#.bins.#.curregs", .statsArenaBin, call) { $0.read(arenaClassStats($0).regions) }
    case .statsArenasBinsCurslabs:
      return node("stats.arenas.#.bins.#.curslabs", .statsArenaBin, call) { $0.read(arenaClassStats($0).slabs) }
    case .statsArenasBinsNfills:
      return node("stats.arenas.#.bins.#.nfills", .statsArenaBin, call) { $0.read(UInt64(arenaClassStats($0).refills)) }

    // Heap profiling (Prof.swift).
    case .optionProf: return node("opt.prof", .none, call) { $0.read(optProf) }
    case .optionProfActive: return node("opt.prof_active", .none, call) { $0.read(optProfActive) }
    case .optionLgProfSample: return node("opt.lg_prof_sample", .none, call) { $0.read(optLgProfSample) }
    case .optionProfPrefix:
      return node("opt.prof_prefix", .none, call) { c in
        c.read(UnsafePointer(profPrefix) ?? UnsafeRawPointer(("swalloc" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self))
      }
    case .optionProfFinal: return node("opt.prof_final", .none, call) { $0.read(optProfFinal) }
    case .optionProfGdump: return node("opt.prof_gdump", .none, call) { $0.read(optProfGdump) }
    case .optionProfLeak: return node("opt.prof_leak", .none, call) { $0.read(optProfLeak) }
    case .profActiveCtl:
      // Writable only when the process started with prof:true (ENOENT otherwise, as jemalloc).
      return node("prof.active", .none, call) { c in
        c.readWriteBool(profActive) { on in
          if !optProf { return ENOENT }
          profSetActive(on)
          return 0
        }
      }
    case .profDumpAction:
      // Write-only: a file name (const char *), or NULL for PREFIX.PID.SEQ.heap.
      return node("prof.dump", .none, call) { c in
        if c.oldp != nil || c.oldlenp != nil { return EPERM }
        if !optProf { return EFAULT }
        var path: UnsafePointer<CChar>? = nil
        if let newp = c.newp {
          if c.newlen != MemoryLayout<UnsafePointer<CChar>?>.size { return EINVAL }
          path = newp.load(as: UnsafePointer<CChar>?.self)
        }
        return profDump(path, kind: 109) ? 0 : EFAULT   // 'm'
      }
    case .profResetAction:
      // Write-only: nothing, or a new lg_prof_sample (size_t).
      return node("prof.reset", .none, call) { c in
        if c.oldp != nil || c.oldlenp != nil { return EPERM }
        if !optProf { return EFAULT }
        var lg: UInt? = nil
        if let newp = c.newp {
          if c.newlen != MemoryLayout<UInt>.size { return EINVAL }
          let value = newp.load(as: UInt.self)
          if value > 40 { return EINVAL }
          lg = value
        }
        profReset(lgSample: lg)
        return 0
      }
    case .profLgSample: return node("prof.lg_sample", .none, call) { $0.read(profLgRate) }
    case .profGdumpCtl:
      return node("prof.gdump", .none, call) { c in
        c.readWriteBool(profGdump) { on in
          if !optProf { return ENOENT }
          profGdump = on
          return 0
        }
      }
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
    if let components = ctlMatch(name, entry.shape.pattern, &numbers) {
      return (entry, numbers.0, numbers.1, components)
    }
    k &+= 1
  }
  return nil
}

private func ctlRun(_ entry: CtlName, _ i: Int, _ j: Int, _ oldp: UnsafeMutableRawPointer?,
                    _ oldlenp: UnsafeMutablePointer<Int>?, _ newp: UnsafeMutableRawPointer?, _ newlen: Int) -> Int32 {
  if !ctlIndicesValid(entry.shape.index, i, j) { return ENOENT }
  if case .result(let rc) = entry.entry(CtlCall(oldp: oldp, oldlenp: oldlenp, newp: newp, newlen: newlen, i: i, j: j)) {
    return rc
  }
  return ENOENT
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
  if !ctlIndicesValid(entry.shape.index, i, j) { return ENOENT }
  // Word components hold the case number, numeric ones their number.
  let pattern = entry.shape.pattern
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
  let pattern = entry.shape.pattern
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
  flushThreadCache()
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

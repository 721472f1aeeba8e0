// mallctl's names: the one table (CtlName.entry), each name's pattern,
// index rule and handler. The machinery that reads it (matching, MIBs,
// CtlCall) is Ctl.swift; the handlers that act are CtlHandlers.swift.

import CSwallocPlatform
import Synchronization

/// Every name mallctl answers (README's jemalloc-compatibility table lists
/// them with their types). The raw value is the MIB's word component.
enum CtlName: Int {
  case version, epoch, backgroundThread, maxBackgroundThreads
  case configCacheOblivious, configDebug, configFill, configLazyLock, configMallocConf, configOptSafetyChecks
  case configProf, configProfLibgcc, configProfLibunwind, configStats, configUtrace, configXmalloc
  case optionAbort, optionAbortConf, optionNarenas, optionTcache, optionTcacheMax, optionLgTcacheMax, optionDirtyDecayMs
  case optionMuzzyDecayMs, optionBackgroundThread, optionMaxBackgroundThreads, optionStatsPrint, optionPercpuArena
  case optionDss, optionJunk, optionZero, optionRetain, optionSecure, optionRemoteQueue, optionThp
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
  case statsArenasBinsMutexOps, statsArenasBinsMutexWait, statsArenasBinsMutexSpin
  case statsArenasExtentsMutexOps, statsArenasExtentsMutexWait, statsArenasExtentsMutexSpin
  case statsMutexesArenasOps, statsMutexesArenasWait, statsMutexesArenasSpin
  case statsMutexesBaseOps, statsMutexesBaseWait, statsMutexesBaseSpin
  case statsMutexesHugeOps, statsMutexesHugeWait, statsMutexesHugeSpin
  case optionProf, optionProfActive, optionLgProfSample, optionProfPrefix, optionProfFinal, optionProfGdump
  case optionProfLeak, profActiveCtl, profDumpAction, profResetAction, profLgSample, profGdumpCtl
  case optionZeroRealloc, optionConfirmConf, statsZeroReallocs, optionLgProfInterval, profIntervalCtl
  case arenasLookup, arenaInitialized, threadIdleAction, threadPeakValue, threadPeakResetAction
  case tcacheCreateAction, tcacheFlushAction, tcacheDestroyAction

  var shape: (pattern: StaticString, index: CtlIndex) {
    if case .shape(let pattern, let index) = entry(nil) { return (pattern, index) }
    fatal("mallctl table: an entry acted without a call")
  }

  /// The table: each name's pattern, index rule and handler.
  func entry(_ call: CtlCall?) -> CtlAnswer {
    switch self {
    case .version: return node("version", .none, call) { $0.read(swallocVersion.utf8Start) }
    case .epoch:
      // jemalloc's: the epoch starts at 1, and a write advances it before
      // the read that goes with it (the new epoch comes back).
      return node("epoch", .none, call) { c in
        if c.oldp != nil, let oldlenp = c.oldlenp, oldlenp.pointee != MemoryLayout<UInt64>.size {
          return c.copyOut(UInt64(ctlEpoch.load(ordering: .relaxed)) &+ 1)
        }
        if c.newp != nil {
          if c.newlen != MemoryLayout<UInt64>.size { return EINVAL }
          ctlEpoch.add(1, ordering: .relaxed)
        }
        return c.copyOut(UInt64(ctlEpoch.load(ordering: .relaxed)) &+ 1)
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
    case .optionAbortConf: return node("opt.abort_conf", .none, call) { $0.read(config.opt.abortConf) }
    case .optionNarenas: return node("opt.narenas", .none, call) { $0.read(UInt32(config.autoArenaCount)) }
    case .optionTcache: return node("opt.tcache", .none, call) { $0.read(config.opt.tcache) }
    case .optionTcacheMax: return node("opt.tcache_max", .none, call) { $0.read(config.opt.tcacheMax) }
    case .optionLgTcacheMax:
      return node("opt.lg_tcache_max", .none, call) { c in
        c.read(config.opt.tcacheMax == 0 ? -1 : Int(63 &- config.opt.tcacheMax.leadingZeroBitCount))
      }
    case .optionDirtyDecayMs: return node("opt.dirty_decay_ms", .none, call) { $0.read(config.opt.dirtyDecayMs) }
    case .optionMuzzyDecayMs: return node("opt.muzzy_decay_ms", .none, call) { $0.read(config.opt.muzzyDecayMs) }
    case .optionBackgroundThread: return node("opt.background_thread", .none, call) { $0.read(config.opt.backgroundThread) }
    case .optionMaxBackgroundThreads: return node("opt.max_background_threads", .none, call) { $0.read(UInt(1)) }
    case .optionStatsPrint: return node("opt.stats_print", .none, call) { $0.read(config.opt.statsPrintAtExit) }
    case .optionPercpuArena: return node("opt.percpu_arena", .none, call) { $0.read(("disabled" as StaticString).utf8Start) }
    case .optionDss: return node("opt.dss", .none, call) { $0.read(("disabled" as StaticString).utf8Start) }
    case .optionJunk:
      return node("opt.junk", .none, call) { c in
        let text: StaticString = config.opt.junkAlloc ? (config.opt.junkFree ? "true" : "alloc") : (config.opt.junkFree ? "free" : "false")
        return c.read(text.utf8Start)
      }
    case .optionZero: return node("opt.zero", .none, call) { $0.read(config.opt.zero) }
    case .optionRetain: return node("opt.retain", .none, call) { $0.read(true) }
    case .optionSecure: return node("opt.secure", .none, call) { $0.read(config.opt.secure) }
    case .optionRemoteQueue: return node("opt.remote_queue", .none, call) { $0.read(config.opt.remoteQueue) }
    case .optionThp: return node("opt.thp", .none, call) { $0.read(config.opt.thp.name.utf8Start) }

    case .threadArenaIndex: return node("thread.arena", .none, call, threadArenaCtl)
    case .threadAllocated: return node("thread.allocated", .none, call) { $0.read(threadByteCounts().allocated) }
    case .threadAllocatedp:
      return node("thread.allocatedp", .none, call) { $0.read(threadCountersPublished().advanced(by: 0)) }
    case .threadDeallocated: return node("thread.deallocated", .none, call) { $0.read(threadByteCounts().deallocated) }
    case .threadDeallocatedp:
      return node("thread.deallocatedp", .none, call) { $0.read(threadCountersPublished().advanced(by: 1)) }
    case .threadTcacheFlush:
      // A thread without a cache (tcache:false, thread.tcache.enabled false): EFAULT, before the
      // arguments are looked at, as jemalloc.
      return node("thread.tcache.flush", .none, call) { c in
        threadTcacheAvailable() ? c.action { flushThreadCache() } : EFAULT
      }
    case .threadTcacheEnabled: return node("thread.tcache.enabled", .none, call, threadTcacheEnabledCtl)
    case .threadIdleAction:
      // jemalloc 5.3's hint that the calling thread will be idle for a while
      // (thread pools call it before they park a worker). A thread without a
      // cache succeeds too, as with jemalloc (thread.tcache.flush's EFAULT
      // is for an explicit flush).
      return node("thread.idle", .none, call) { c in c.action { threadIdle() } }
    case .threadPeakValue: return node("thread.peak.read", .none, call) { $0.read(threadPeakRead()) }
    case .threadPeakResetAction: return node("thread.peak.reset", .none, call) { c in c.action { threadPeakReset() } }
    case .tcacheCreateAction: return node("tcache.create", .none, call, explicitTcacheCreateCtl)
    case .tcacheFlushAction:
      return node("tcache.flush", .none, call) { c in explicitTcacheIndexCtl(c) { explicitTcacheFlush($0) } }
    case .tcacheDestroyAction:
      return node("tcache.destroy", .none, call) { c in explicitTcacheIndexCtl(c) { explicitTcacheDestroy($0) } }

    case .arenaPurgeAction:
      return node("arena.#.purge", .arenaOrAll, call) { c in
        c.action {
          if c.i == ctlArenasDestroyed { return }   // jemalloc's destroyed arenas' index: none to purge
          if c.i >= arenaCount { _ = purgeAllArenas() } else { purgeArena(c.i) }
        }
      }
    case .arenaDecayAction:
      // A decay step now: purges what the decay curve allows, as time passing does.
      return node("arena.#.decay", .arenaOrAll, call) { c in
        c.action {
          if c.i == ctlArenasDestroyed { return }
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
        if c.i == ctlArenasDestroyed { return EFAULT }
        return c.readWrite(("disabled" as StaticString).utf8Start) { text in
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
          if ms < -1 { return EFAULT }   // (jemalloc's answer to a time it cannot take)
          withLock(&arenasLock) { arenasDirtyDecayMs = ms }
          return 0
        }
      }
    case .arenasDefaultMuzzyDecayMs:
      return node("arenas.muzzy_decay_ms", .none, call) { c in
        c.readWrite(arenasMuzzyDecayMs) { ms in
          if ms < -1 { return EFAULT }
          withLock(&arenasLock) { arenasMuzzyDecayMs = ms }
          return 0
        }
      }
    case .arenasQuantum: return node("arenas.quantum", .none, call) { $0.read(quantum) }
    case .arenasPage: return node("arenas.page", .none, call) { $0.read(pageSize) }
    case .arenasTcacheMax:
      return node("arenas.tcache_max", .none, call) { c in
        c.read(config.tcacheClassCount == 0 ? 0 : sizeClassSize(config.tcacheClassCount &- 1))
      }
    case .arenasNbins: return node("arenas.nbins", .none, call) { $0.read(UInt32(config.smallClassCount)) }
    case .arenasNhbins: return node("arenas.nhbins", .none, call) { $0.read(UInt32(config.tcacheClassCount)) }
    case .arenasBinSize: return node("arenas.bin.#.size", .bin, call) { $0.read(sizeClassSize($0.i)) }
    case .arenasBinNregs: return node("arenas.bin.#.nregs", .bin, call) { $0.read(config.binInfos[$0.i].regionCount) }
    case .arenasBinSlabSize:
      return node("arenas.bin.#.slab_size", .bin, call) { $0.read(UInt(config.binInfos[$0.i].slabPages) << pageShift) }
    case .arenasNlextents: return node("arenas.nlextents", .none, call) { $0.read(UInt32(classCount &- config.smallClassCount)) }
    case .arenasLextentSize:
      return node("arenas.lextent.#.size", .lextent, call) { $0.read(sizeClassSize(config.smallClassCount &+ $0.i)) }
    case .arenasCreate:
      return node("arenas.create", .none, call) { c in
        c.actionReading(UInt32.self) { arenaCreateExplicit().map { UInt32($0) } }
      }

    case .statsAllocated: return node("stats.allocated", .none, call) { $0.read(statsGather().allocated) }
    case .statsActive: return node("stats.active", .none, call) { $0.read(statsGather().active) }
    case .statsMetadata: return node("stats.metadata", .none, call) { $0.read(statsGather().metadataMapped) }
    case .statsResident:
      // Measured: what the kernel holds of swalloc's mappings (mincore), at
      // most 1% of the time (residentForStats).
      return node("stats.resident", .none, call) { $0.read(ensureBooted() ? residentForStats() : 0) }
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

    // Lock counters (Lock.swift), jemalloc's mutex statistics: acquisitions,
    // acquisitions that slept, acquisitions that spun. A bin's lock, an
    // arena's extent lock (its page runs and large blocks), and the global
    // locks: arenas, base (metadata), huge (the huge-block cache).
    case .statsArenasBinsMutexOps:
      return node("stats.arenas.#.bins.#.mutex.num_ops", .statsArenaBin, call) { $0.read(arenaClassStats($0).lock.operations) }
    case .statsArenasBinsMutexWait:
      return node("stats.arenas.#.bins.#.mutex.num_wait", .statsArenaBin, call) { $0.read(arenaClassStats($0).lock.waited) }
    case .statsArenasBinsMutexSpin:
      return node("stats.arenas.#.bins.#.mutex.num_spin_acq", .statsArenaBin, call) { c in
        c.read(arenaClassStats(c).lock.spinAcquired)
      }
    case .statsArenasExtentsMutexOps:
      return node("stats.arenas.#.mutexes.extents.num_ops", .statsArena, call) { $0.read(arenaStats($0).extentLocks.operations) }
    case .statsArenasExtentsMutexWait:
      return node("stats.arenas.#.mutexes.extents.num_wait", .statsArena, call) { $0.read(arenaStats($0).extentLocks.waited) }
    case .statsArenasExtentsMutexSpin:
      return node("stats.arenas.#.mutexes.extents.num_spin_acq", .statsArena, call) { c in
        c.read(arenaStats(c).extentLocks.spinAcquired)
      }
    case .statsMutexesArenasOps:
      return node("stats.mutexes.arenas.num_ops", .none, call) { $0.read(globalLockStats().arenas.operations) }
    case .statsMutexesArenasWait:
      return node("stats.mutexes.arenas.num_wait", .none, call) { $0.read(globalLockStats().arenas.waited) }
    case .statsMutexesArenasSpin:
      return node("stats.mutexes.arenas.num_spin_acq", .none, call) { $0.read(globalLockStats().arenas.spinAcquired) }
    case .statsMutexesBaseOps:
      return node("stats.mutexes.base.num_ops", .none, call) { $0.read(globalLockStats().base.operations) }
    case .statsMutexesBaseWait:
      return node("stats.mutexes.base.num_wait", .none, call) { $0.read(globalLockStats().base.waited) }
    case .statsMutexesBaseSpin:
      return node("stats.mutexes.base.num_spin_acq", .none, call) { $0.read(globalLockStats().base.spinAcquired) }
    case .statsMutexesHugeOps:
      return node("stats.mutexes.huge.num_ops", .none, call) { $0.read(globalLockStats().huge.operations) }
    case .statsMutexesHugeWait:
      return node("stats.mutexes.huge.num_wait", .none, call) { $0.read(globalLockStats().huge.waited) }
    case .statsMutexesHugeSpin:
      return node("stats.mutexes.huge.num_spin_acq", .none, call) { $0.read(globalLockStats().huge.spinAcquired) }

    // Heap profiling (Prof.swift).
    case .optionProf: return node("opt.prof", .none, call) { $0.read(config.opt.prof) }
    case .optionProfActive: return node("opt.prof_active", .none, call) { $0.read(config.opt.profActiveAtStart) }
    case .optionLgProfSample: return node("opt.lg_prof_sample", .none, call) { $0.read(config.opt.lgProfSample) }
    case .optionProfPrefix:
      return node("opt.prof_prefix", .none, call) { c in
        c.read(UnsafePointer(config.opt.profPrefix) ?? UnsafeRawPointer(("swalloc" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self))
      }
    case .optionProfFinal: return node("opt.prof_final", .none, call) { $0.read(config.opt.profFinal) }
    case .optionProfGdump: return node("opt.prof_gdump", .none, call) { $0.read(config.opt.profGdumpOnPeak) }
    case .optionProfLeak: return node("opt.prof_leak", .none, call) { $0.read(config.opt.profLeak) }
    case .profActiveCtl:
      // Writable only when the process started with prof:true (ENOENT otherwise, as jemalloc).
      return node("prof.active", .none, call) { c in
        c.readWriteBool(profActive) { on in
          // Without prof:true, turning it off is a no-op and on ENOENT (jemalloc's).
          if !config.opt.prof { return on ? ENOENT : 0 }
          profSetActive(on)
          return 0
        }
      }
    case .profDumpAction:
      // Write-only: a file name (const char *), or NULL for PREFIX.PID.SEQ.heap.
      return node("prof.dump", .none, call) { c in
        if c.oldp != nil || c.oldlenp != nil { return EPERM }
        if !config.opt.prof { return EFAULT }
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
        if !config.opt.prof { return EFAULT }
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
        // A write without prof:true is ENOENT before its length is looked
        // at (jemalloc's order, unlike prof.active's).
        if c.newp != nil && !config.opt.prof { return ENOENT }
        return c.readWriteBool(profGdump) { on in
          profGdump = on
          return 0
        }
      }
    case .optionZeroRealloc:
      return node("opt.zero_realloc", .none, call) { $0.read(config.opt.zeroRealloc.name.utf8Start) }
    case .optionConfirmConf: return node("opt.confirm_conf", .none, call) { $0.read(config.opt.confirmConf) }
    case .statsZeroReallocs:
      return node("stats.zero_reallocs", .none, call) { $0.read(zeroReallocCount.load(ordering: .relaxed)) }
    case .optionLgProfInterval:
      return node("opt.lg_prof_interval", .none, call) { $0.read(config.opt.lgProfInterval) }
    case .profIntervalCtl:
      // jemalloc's: the bytes between interval dumps, 0 without them.
      return node("prof.interval", .none, call) { $0.read(UInt64(profInterval)) }
    case .arenasLookup:
      // The arena of the chunk holding the address written (any byte of a
      // block, freed or not, as jemalloc answers for a slab's). A huge
      // block (above 2 MiB, a mapping of its own) belongs to no arena, and
      // an address swalloc never mapped is not looked at further: EINVAL
      // (jemalloc 5.3.0 crashes on one, 5.3.1 says EINVAL).
      return node("arenas.lookup", .none, call) { c in
        guard let newp = c.newp, c.newlen == MemoryLayout<UnsafeRawPointer?>.size else { return EINVAL }
        let address = UInt(bitPattern: newp.load(as: UnsafeRawPointer?.self))
        if pageMapLookup(address) & pageMapArenaChunkTag == 0 { return EINVAL }
        return c.copyOut(UInt32(chunkArena(address).pointee.index))
      }
    case .arenaInitialized:
      // Whether arena <i> was made; jemalloc's all-arenas indices
      // (arenas.narenas, 4096) read true, its destroyed arenas' (4097) false.
      return node("arena.#.initialized", .arenaOrAll, call) { c in
        if c.i == ctlArenasDestroyed { return c.read(false) }
        return c.read(c.i >= arenaCount || arenas[c.i] != nil)
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

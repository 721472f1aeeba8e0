// The allocator's boot-once state, in one place (snmalloc's globalconfig.h,
// rpmalloc's global section): the option values and everything computed
// from them and from the page size at boot, i.e. the geometry and tables of
// every layer. Each layer's boot step fills its own section below.
//
// Who writes it, and when: only the boot (bootSteps in API/Init.swift and the
// ...Boot functions it calls), under bootLock, before bootState is stored
// with release order; a boot that failed for want of memory leaves the
// allocator unbooted and the next attempt, under the same lock, writes it
// again. Read-only after: every reader either passed isBooted() (acquire
// order, so it sees the finished values) or reads a value whose default
// sends it to a path that boots first. Nothing changed at run time (by
// mallctl, fork or a thread) belongs here: such state stays in its own
// layer, under a lock or atomic.
//
// Why one struct in this lowest layer: every layer reads these values, and a
// layer may only use what its own level and those below define
// (scripts/check-layers.py). The fields are plain numbers, pointers into base
// memory and fixed tables (ClassTable, an InlineArray), so declaring them here names no type of a higher
// layer; the arena table's pointer is untyped here and typed in
// Arenas/Arena.swift (arenaSlots).
//
// Fast paths read fields of it as they read separate globals before: one load
// from static storage (the struct's initial value is a constant, so the
// Embedded build places it in .data with no lazy initializer).

import CSwallocPlatform

struct Config {
  // MARK: Platform: options (Options.swift, optionsBoot)

  /// The option values.
  var opt = Options()

  // MARK: Platform: size classes (SizeClasses.swift, sizeClassesBoot)
  // (The size -> class tables, boot-once too, are globals of their own:
  // sizeBinOffsets and sizeUpper in SizeClasses.swift, which says why.)

  /// Slab geometry per small class (entries from smallClassCount on unused).
  var binInfos = ClassTable(repeating: BinInfo(regionSize: 0, regionCount: 0, slabPages: 0, divisionMagic: 0))
  /// Classes below 4 pages are small (slab-backed).
  var smallClassCount = 0
  /// The most regions a slab holds, in bitmap bits.
  var maxRegionsPerSlab: UInt = 0
  /// The first large class whose runs are sized to their requests in
  /// pages (largeRunBytes, pageRunsBoot); classCount (none) before boot.
  var pageRunFirstClass = classCount

  // MARK: Platform: transparent huge pages (Platform.swift, thpBoot)

  /// madvise advice for new chunk and base mappings, and for new huge
  /// blocks' mappings (0: none), from the thp option and the system's mode.
  var thpAdviceChunks: Int32 = 0
  var thpAdviceHuge: Int32 = 0

  // MARK: Platform: the clock (Clock.swift, clockBoot)

  /// The vDSO's clock_gettime (a VdsoClockGettime), nil where there is none.
  var vdsoClockGettime: UnsafeRawPointer? = nil

  // MARK: Pages: extent records (Extent.swift, extentRecordBoot)

  /// Bytes of one Extent record: header + bitmap for the largest slab.
  var extentRecordSize: UInt = 128

  // MARK: Arenas: chunks (Chunk.swift, chunkGeometryBoot)

  /// Pages per chunk, words of one page-state bitmap and bytes of one
  /// ChunkMeta record.
  var pagesPerChunk: UInt = 1024
  var chunkStateWords: UInt = 16
  var chunkMetaSize: UInt = 0

  // MARK: Arenas: the arena table and remote frees (bootSteps)

  /// Arenas threads are bound to automatically (narenas): indices below it.
  var autoArenaCount = 1
  /// Entries of the arena table: the automatic arenas and room for 256 made
  /// by arenas.create, within jemalloc's limit (MALLOCX_ARENA carries 12
  /// bits, 4096 means "all").
  var arenaTableCapacity = 4095
  /// The arena table (base memory; its ArenaSlot entries are guarded by
  /// arenasLock): Arena.swift's arenaSlots is this pointer, typed.
  var arenaTable: UnsafeMutableRawPointer = UnsafeMutableRawPointer(bitPattern: 64)!
  /// Per-process secret of the remote-free links (from AT_RANDOM; Bin.swift).
  var remoteLinkSecret: UInt = 0

  // MARK: ThreadCache (Tcache.swift, tcacheBoot; Tsd.swift, tsdBoot)

  /// Size classes cached per thread (classes below this index).
  var tcacheClassCount = 0
  /// Bytes of one Tcache block including its stacks.
  var tcacheBlockSize: UInt = 0
  /// Slots each cached class's stack has in a Tcache block: the most
  /// entries it may grow to (entries from tcacheClassCount on unused).
  var tcacheCapacities = ClassTable<UInt32>(repeating: 0)
  /// The most entries a stack grows to once the process has threads
  /// (tcacheGrowthLimit): at most tcacheCapacities.
  var tcacheSharedCapacities = ClassTable<UInt32>(repeating: 0)
  /// The capacity each stack starts at and shrinks back to when idle.
  var tcacheBaseCapacities = ClassTable<UInt32>(repeating: 0)
  /// Byte offsets in a Tcache block of each cached class's stack end: in
  /// its full slot (the one it grows within), and in its dense slot (0:
  /// none), where it starts (tcacheDenseCapacity).
  var tcacheFullEnds = ClassTable<UInt32>(repeating: 0)
  var tcacheDenseEnds = ClassTable<UInt32>(repeating: 0)
  /// Byte offset in a Tcache block where the dense slots end and the full
  /// slots begin: a stack whose end lies below it is in its dense slot.
  var tcacheDenseAreaEnd: UInt = 0
  /// The byte offset among a tcache's bins of the last stack that keeps
  /// other arenas' blocks apart (tcacheKeepsForeign); 0 (none) under
  /// secure:true.
  var tcacheForeignBinOffsetLimit: UInt = 0
  /// The pthread key whose destructor tears a thread's cache down.
  var tsdKey: pthread_key_t = 0

  // MARK: Control: heap profiling (Prof.swift, profBoot)

  /// This library's executable segment: backtrace frames inside it are
  /// the allocator's own and dropped.
  var profModuleLow: UInt = 0
  var profModuleHigh: UInt = 0
}

/// The boot-once state (see the top of this file): written by the boot under
/// bootLock, read-only after.
nonisolated(unsafe) var config = Config()

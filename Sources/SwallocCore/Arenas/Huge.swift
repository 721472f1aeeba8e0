// Huge allocations (above 2 MiB): mapped directly, aligned to the chunk size
// so the page map can key them by chunk. Each has an Extent record (state
// .huge) that the page map points to.
//
// A freed mapping is not unmapped at once: a small cache (at most
// `hugeCacheMaxEntries` mappings of up to 64 MiB, 128 MiB in all; the
// oldest are unmapped to make room) keeps it for reuse by the next request
// it can hold (the smallest such; one more than 4 times too big gives its
// tail back first), so a loop that allocates and frees big blocks does not
// pay mmap + munmap + page faults each round. Cached mappings are unmapped once they have been idle
// for dirty_decay_ms (checked on huge allocations and frees), or at once by
// malloc_trim; dirty_decay_ms:0 disables the cache.
//
// A cached mapping's pages stay resident only while the process does not
// grow elsewhere: when an arena takes pages that are not resident (fresh or
// purged), the cache gives back as many of its own first (hugeCacheShed,
// oldest mappings first, from their ends), so waiting for reuse never adds
// to the process's resident memory. bench realloc-grow grows an array by
// realloc to 128 KiB-4 MiB (the last steps huge), frees it and grows the
// next one through the arena's large runs, while the freed mapping waited
// resident: peak RSS 7.7 MiB against glibc's 6.5, which munmaps at once.
// A loop that frees a huge block and allocates the next (bench large) finds
// the cache's pages still resident: purging them at every free instead cost
// it 20 times its time (page faults).

import Synchronization

import CSwallocPlatform

/// Recycled huge Extent records. Guarded by hugeRecordsLock.
nonisolated(unsafe) var hugeRecords = RecycleList()
nonisolated(unsafe) var hugeRecordsLock = Mutex()
/// Live huge bytes and blocks, for statistics. Atomic (relaxed): counters.
let hugeBytes = Atomic<UInt>(0)
let hugeCount = Atomic<UInt>(0)
/// Bytes mapped for live huge blocks (hugeRecordBytes: with the rest of a
/// larger cached mapping a block reused), for stats.mapped. Atomic (relaxed).
let hugeMappedBytes = Atomic<UInt>(0)

@inline(__always) func hugeMappedChange(from old: UInt, to new: UInt) {
  if new >= old { hugeMappedBytes.add(new &- old, ordering: .relaxed) }
  else { hugeMappedBytes.subtract(old &- new, ordering: .relaxed) }
}

/// The cache of freed mappings (newest first), its entry count and bytes,
/// and the links and sinceMs of the records on it. Guarded by hugeCacheLock.
nonisolated(unsafe) var hugeCacheLock = Mutex()
nonisolated(unsafe) var hugeCache = ExtentList()
nonisolated(unsafe) var hugeCacheEntries = 0
nonisolated(unsafe) var hugeCacheBytes: UInt = 0
/// Bytes of the cached mappings that may be resident: the sum of their
/// records' dirtyPages (a cached record's first dirtyPages pages may hold
/// data; the rest were purged and read zero). Written under hugeCacheLock;
/// read without it by arenaAllocPages, which only asks whether it is 0.
let hugeCacheDirtyBytes = Atomic<UInt>(0)

@inline(__always) private func hugeCacheDirtyChange(_ record: UnsafeMutablePointer<Extent>, adding: Bool) {
  let bytes = UInt(record.pointee.dirtyPages) << pageShift
  if adding { hugeCacheDirtyBytes.add(bytes, ordering: .relaxed) }
  else { hugeCacheDirtyBytes.subtract(bytes, ordering: .relaxed) }
}
let hugeCacheMaxEntries = 8
let hugeCacheMaxBytes: UInt = 128 << 20
let hugeCacheMaxMapping: UInt = 64 << 20
/// A cached mapping more than (1 + this) times the request gives its tail
/// back before it is reused; smaller surpluses are kept (their pages are
/// already faulted in, and trimming them measured slower on bench `large`).
let hugeTrimFactor: UInt = 3

/// Bytes mapped for a huge record (its usable size is `pages`).
@inline(__always) func hugeBytesAdd(_ n: UInt) {
  hugeBytes.add(n, ordering: .relaxed)
  statsAllocated(n)
}

@inline(__always) func hugeBytesSubtract(_ n: UInt) {
  hugeBytes.subtract(n, ordering: .relaxed)
  statsDeallocated(n)
}

@inline(__always) func hugeRecordBytes(_ r: UnsafeMutablePointer<Extent>) -> UInt { r.pointee.mappedPages << pageShift }

/// Takes the smallest cached mapping that holds `usize` bytes (trimmed to
/// `usize` when it is more than 4 times larger), else the largest smaller
/// one, whose pages the caller moves onto a range of `usize` bytes
/// (hugeRemap): what it already has faulted in then serves the new block,
/// instead of a fresh mapping faulting every page while the cached one ages
/// out. Returns the record and whether it holds `usize` already; nil when
/// the cache is empty.
private func hugeCacheTake(_ usize: UInt) -> (record: UnsafeMutablePointer<Extent>, fits: Bool)? {
  withLock(&hugeCacheLock) {
    var best: UnsafeMutablePointer<Extent>? = nil
    var largestSmaller: UnsafeMutablePointer<Extent>? = nil
    var e = hugeCache.first
    while let cur = e {
      let bytes = hugeRecordBytes(cur)
      if bytes >= usize {
        if best == nil || bytes < hugeRecordBytes(best.unsafelyUnwrapped) { best = cur }
      } else if largestSmaller == nil || bytes > hugeRecordBytes(largestSmaller.unsafelyUnwrapped) {
        largestSmaller = cur
      }
      e = cur.pointee.next
    }
    guard let found = best ?? largestSmaller else { return nil }
    hugeCache.remove(found)
    hugeCacheEntries &-= 1
    hugeCacheBytes &-= hugeRecordBytes(found)
    hugeCacheDirtyChange(found, adding: false)
    let bytes = hugeRecordBytes(found)
    if bytes < usize { return (found, false) }
    if bytes &- usize > usize &* hugeTrimFactor {
      // Split the surplus off at a chunk boundary: the tail's pages are faulted
      // in already, so it stays cached as a mapping of its own; unmapped only
      // when the cache is full or there is no record for it.
      let headBytes = (usize &+ chunkMask) & ~chunkMask
      let tailStart = found.pointee.address &+ headBytes
      if bytes > headBytes && hugeCacheEntries < hugeCacheMaxEntries, let raw = recyclePop(&hugeRecords, &hugeRecordsLock)
                            ?? baseAlloc(UInt(MemoryLayout<Extent>.stride), alignment: 64) {
        let tail = raw.bindMemory(to: Extent.self, capacity: 1)
        tail.initialize(to: Extent(address: tailStart, state: .huge, pages: (bytes &- headBytes) >> pageShift))
        tail.pointee.mappedPages = (bytes &- headBytes) >> pageShift
        tail.pointee.sinceMs = found.pointee.sinceMs
        let headPages = UInt32(truncatingIfNeeded: headBytes >> pageShift)
        tail.pointee.dirtyPages = found.pointee.dirtyPages > headPages ? found.pointee.dirtyPages &- headPages : 0
        hugeCache.pushFront(tail)
        hugeCacheEntries &+= 1
        hugeCacheBytes &+= bytes &- headBytes
        hugeCacheDirtyChange(tail, adding: true)
        found.pointee.mappedPages = headBytes >> pageShift
        found.pointee.dirtyPages = min(found.pointee.dirtyPages, headPages)
      } else {
        unmapPages(UnsafeMutableRawPointer(bitPattern: found.pointee.address &+ usize).unsafelyUnwrapped, bytes &- usize)
        found.pointee.mappedPages = usize >> pageShift
        found.pointee.dirtyPages = min(found.pointee.dirtyPages, UInt32(truncatingIfNeeded: usize >> pageShift))
      }
    }
    // The block's usable size is what was asked for (nallocx agrees); the
    // rest of the mapping stays attached to the record.
    found.pointee.pages = usize >> pageShift
    return (found, true)
  }
}

/// The cache's oldest mapping (its list's tail: mappings are pushed at the
/// front); hugeCacheLock held.
private func hugeCacheOldest() -> UnsafeMutablePointer<Extent>? {
  var oldest = hugeCache.first
  while let n = oldest?.pointee.next { oldest = n }
  return oldest
}

/// Keeps a freed mapping for reuse; false when the cache declines it.
private func hugeCachePut(_ record: UnsafeMutablePointer<Extent>) -> Bool {
  let bytes = hugeRecordBytes(record)
  if config.opt.dirtyDecayMs == 0 || bytes > hugeCacheMaxMapping { return false }
  return withLock(&hugeCacheLock) {
    // Make room by unmapping the oldest entries (the list's tail).
    while hugeCacheEntries >= hugeCacheMaxEntries || hugeCacheBytes &+ bytes > hugeCacheMaxBytes {
      let oldest = hugeCacheOldest().unsafelyUnwrapped
      hugeCache.remove(oldest)
      let oldBytes = hugeRecordBytes(oldest)
      hugeCacheEntries &-= 1
      hugeCacheBytes &-= oldBytes
      hugeCacheDirtyChange(oldest, adding: false)
      unmapPages(UnsafeMutableRawPointer(bitPattern: oldest.pointee.address).unsafelyUnwrapped, oldBytes)
      recyclePush(&hugeRecords, &hugeRecordsLock, UnsafeMutableRawPointer(oldest))
    }
    record.pointee.sinceMs = UInt32(truncatingIfNeeded: monotonicMs())
    // Every page counts as possibly resident (the block may not have
    // touched them all: shedding those costs a madvise of nothing).
    record.pointee.dirtyPages = UInt32(truncatingIfNeeded: record.pointee.mappedPages)
    hugeCache.pushFront(record)
    hugeCacheEntries &+= 1
    hugeCacheBytes &+= bytes
    hugeCacheDirtyChange(record, adding: true)
    return true
  }
}

/// Unmaps cached mappings idle for longer than `olderThanMs` (all of them
/// when negative); returns the bytes unmapped.
func hugeCacheDrop(olderThanMs: Int) -> UInt {
  if !isBooted() { return 0 }
  let now = UInt32(truncatingIfNeeded: monotonicMs())
  var dropped: UInt = 0
  withLock(&hugeCacheLock) {
    var e = hugeCache.first
    while let cur = e {
      e = cur.pointee.next
      if olderThanMs >= 0 && Int(now &- cur.pointee.sinceMs) < olderThanMs { continue }
      hugeCache.remove(cur)
      let bytes = hugeRecordBytes(cur)
      hugeCacheEntries &-= 1
      hugeCacheBytes &-= bytes
      hugeCacheDirtyChange(cur, adding: false)
      dropped &+= bytes
      unmapPages(UnsafeMutableRawPointer(bitPattern: cur.pointee.address).unsafelyUnwrapped, bytes)
      recyclePush(&hugeRecords, &hugeRecordsLock, UnsafeMutableRawPointer(cur))
    }
  }
  return dropped
}

/// An arena took `pages` pages that are not resident (fresh or purged):
/// the cache gives back as many of its own first, if it holds any.
@inline(__always)
func hugeCacheMakeRoom(forPages pages: UInt) {
  if pages != 0 && hugeCacheDirtyBytes.load(ordering: .relaxed) != 0 { hugeCacheShed(pages << pageShift) }
}

/// Pages purged past what was asked, at most, so that an arena growing by
/// one-page slabs makes one madvise per 16 of them, not one each.
let hugeShedQuantumPages: UInt = 16
/// Pages purged ahead of the arenas' needs (guarded by hugeCacheLock).
nonisolated(unsafe) var hugeShedCredit: UInt = 0

/// An arena is taking `bytes` of pages that are not resident: purges as
/// many of the cached mappings' possibly resident pages (MADV_DONTNEED),
/// from the oldest mapping on, each from its end, rounded up to
/// hugeShedQuantumPages (the surplus is credited to the next calls). The
/// caller holds an arena's extent lock (the global order has it before
/// hugeCacheLock).
func hugeCacheShed(_ bytes: UInt) {
  withLock(&hugeCacheLock) {
    let wanted = bytes >> pageShift
    if hugeShedCredit >= wanted {
      hugeShedCredit &-= wanted
      return
    }
    let needed = wanted &- hugeShedCredit
    let rounded = (needed &+ hugeShedQuantumPages &- 1) / hugeShedQuantumPages &* hugeShedQuantumPages
    var left = rounded
    var e = hugeCacheOldest()
    while let cur = e, left > 0 {
      e = cur.pointee.prev
      let dirty = UInt(cur.pointee.dirtyPages)
      if dirty == 0 { continue }
      let k = min(dirty, left)
      let saved = swalloc_errno()
      let start = cur.pointee.address &+ ((dirty &- k) << pageShift)
      if madvise(UnsafeMutableRawPointer(bitPattern: start), Int(k << pageShift), MADV_DONTNEED) != 0 {
        swalloc_set_errno(saved)
        continue
      }
      cur.pointee.dirtyPages = UInt32(truncatingIfNeeded: dirty &- k)
      hugeCacheDirtyBytes.subtract(k << pageShift, ordering: .relaxed)
      left &-= k
    }
    // Only what was purged beyond the need is credit.
    let purged = rounded &- left
    hugeShedCredit = purged > needed ? purged &- needed : 0
  }
}

func hugeCacheExpire() {
  // No unlocked peek at hugeCacheEntries: every caller is about to make or
  // has just made a system call, next to which the lock costs nothing.
  if config.opt.dirtyDecayMs > 0 { _ = hugeCacheDrop(olderThanMs: config.opt.dirtyDecayMs) }
}

/// The largest request any allocation function accepts (PTRDIFF_MAX).
let maxRequestSize = UInt(Int.max)

/// Maps a huge block; `zero` asks for zeroed memory (only a reused cached
/// mapping needs clearing: fresh mappings are zero).
func hugeAlloc(_ size: UInt, alignment: UInt, zero: Bool = false) -> UnsafeMutableRawPointer? {
  guard let p = hugeMap(size, alignment: alignment, zero: zero || config.opt.zero) else { return nil }
  if config.opt.junkAlloc && !(zero || config.opt.zero) { memset(p, 0xa5, Int(roundUpToPage(size))) }
  return p
}

private func hugeMap(_ size: UInt, alignment: UInt, zero: Bool) -> UnsafeMutableRawPointer? {
  if size > maxRequestSize &- chunkSize { return nil }
  let usize = roundUpToPage(size)
  hugeCacheExpire()
  if alignment <= chunkSize, let (cached, fits) = hugeCacheTake(usize) {
    // Only the reused pages the cache did not purge can hold old data; a
    // grown mapping's new pages are fresh. Zeroing covers the whole usable
    // size (MALLOCX_ZERO's and calloc's rule), not just the request.
    let reusedBytes = min(hugeRecordBytes(cached), usize, UInt(cached.pointee.dirtyPages) << pageShift)
    if !fits && !hugeRemap(cached, to: usize) {
      unmapPages(UnsafeMutableRawPointer(bitPattern: cached.pointee.address).unsafelyUnwrapped, hugeRecordBytes(cached))
      recyclePush(&hugeRecords, &hugeRecordsLock, UnsafeMutableRawPointer(cached))
    } else if pageMapSet(cached.pointee.address, UInt(bitPattern: cached)) {
      let p = UnsafeMutableRawPointer(bitPattern: cached.pointee.address).unsafelyUnwrapped
      if zero { memset(p, 0, Int(reusedBytes)) }
      hugeBytesAdd(usize)
      hugeMappedChange(from: 0, to: hugeRecordBytes(cached))
      hugeCount.add(1, ordering: .relaxed)
      return p
    } else {
      unmapPages(UnsafeMutableRawPointer(bitPattern: cached.pointee.address).unsafelyUnwrapped, hugeRecordBytes(cached))
      recyclePush(&hugeRecords, &hugeRecordsLock, UnsafeMutableRawPointer(cached))
    }
  }
  var raw = recyclePop(&hugeRecords, &hugeRecordsLock)
  if raw == nil { raw = baseAlloc(UInt(MemoryLayout<Extent>.stride), alignment: 64) }
  guard let raw else { return nil }
  let record = raw.bindMemory(to: Extent.self, capacity: 1)
  guard let p = mapAligned(usize, alignment: max(alignment, chunkSize)) else {
    recyclePush(&hugeRecords, &hugeRecordsLock, raw)
    return nil
  }
  adviseHugePages(p, usize, config.thpAdviceHuge)
  record.initialize(to: Extent(address: UInt(bitPattern: p), state: .huge, pages: usize >> pageShift))
  record.pointee.mappedPages = usize >> pageShift
  if !pageMapSet(UInt(bitPattern: p), UInt(bitPattern: record)) {
    unmapPages(p, usize)
    recyclePush(&hugeRecords, &hugeRecordsLock, raw)
    return nil
  }
  hugeBytesAdd(usize)
  hugeMappedChange(from: 0, to: usize)
  hugeCount.add(1, ordering: .relaxed)
  return p
}

func hugeFree(_ record: UnsafeMutablePointer<Extent>) {
  let p = UnsafeMutableRawPointer(bitPattern: record.pointee.address).unsafelyUnwrapped
  _ = pageMapSet(record.pointee.address, 0)
  hugeBytesSubtract(record.pointee.pages << pageShift)
  hugeMappedChange(from: hugeRecordBytes(record), to: 0)
  hugeCount.subtract(1, ordering: .relaxed)
  hugeCacheExpire()
  if hugeCachePut(record) { return }
  unmapPages(p, hugeRecordBytes(record))
  recyclePush(&hugeRecords, &hugeRecordsLock, UnsafeMutableRawPointer(record))
}

/// Grows a huge block by moving its pages, not its bytes: the kernel remaps
/// them (mremap) onto a fresh chunk-aligned reservation. The new size gets
/// 25% headroom so a block grown step by step moves O(log n) times.
/// Returns the new address, or nil (the caller then copies).
func hugeGrowByRemap(_ record: UnsafeMutablePointer<Extent>, newSize: UInt) -> UnsafeMutableRawPointer? {
  let oldUsable = record.pointee.pages << pageShift
  let (withHeadroom, overflow) = roundUpToPage(newSize).addingReportingOverflow(roundUpToPage(newSize) / 4)
  if overflow || withHeadroom > maxRequestSize &- 2 &* chunkSize { return nil }
  let oldAddress = record.pointee.address
  let oldMapped = hugeRecordBytes(record)
  if !hugeRemap(record, to: roundUpToPage(withHeadroom)) { return nil }
  hugeMappedChange(from: oldMapped, to: hugeRecordBytes(record))
  // The old range is gone, and may already hold another thread's new block
  // with its own entry: clear ours only. (Clearing it unconditionally made
  // concurrent huge reallocs abort on live blocks: concurrency
  // huge-realloc-race.)
  pageMapClear(oldAddress, ifEqualTo: UInt(bitPattern: record))
  if !pageMapSet(record.pointee.address, UInt(bitPattern: record)) { fatal("out of metadata memory while moving a huge block") }
  hugeBytesAdd((record.pointee.pages << pageShift) &- oldUsable)
  return UnsafeMutableRawPointer(bitPattern: record.pointee.address)
}

/// Moves a huge mapping's pages onto a fresh chunk-aligned range of `usize`
/// bytes (at least its current size): mremap moves the page tables, not the
/// bytes, and the pages past the old end fault in on use. The record's
/// address and sizes follow; the page map is the caller's. False, with the
/// mapping untouched, when the system refuses.
private func hugeRemap(_ record: UnsafeMutablePointer<Extent>, to usize: UInt) -> Bool {
  if usize > maxRequestSize &- chunkSize { return false }
  guard let reservation = reserveAddressSpace(usize &+ chunkSize) else { return false }
  let start = UInt(bitPattern: reservation)
  let target = (start &+ chunkMask) & ~chunkMask
  let old = UnsafeMutableRawPointer(bitPattern: record.pointee.address).unsafelyUnwrapped
  let saved = swalloc_errno()
  let moved = swalloc_mremap_to(old, Int(hugeRecordBytes(record)), Int(usize), UnsafeMutableRawPointer(bitPattern: target))
  swalloc_set_errno(saved)
  if moved != UnsafeMutableRawPointer(bitPattern: target) {
    unmapPages(reservation, usize &+ chunkSize)
    return false
  }
  // The remap replaced the middle of the reservation; drop its two ends.
  if target > start { unmapPages(reservation, target &- start) }
  let tailStart = target &+ usize
  let tailEnd = start &+ usize &+ chunkSize
  if tailEnd > tailStart { unmapPages(UnsafeMutableRawPointer(bitPattern: tailStart).unsafelyUnwrapped, tailEnd &- tailStart) }
  record.pointee.address = target
  record.pointee.pages = usize >> pageShift
  record.pointee.mappedPages = usize >> pageShift
  return true
}

/// A huge block that grows in place gets its mapping extended by
/// 1/2^hugeGrowthRoomShift of its new size beyond it (mapped slack: the
/// usable size is still what was asked), so that the next calls of a
/// block grown a little at a time find their room there. Extended to the
/// page each call asked for, bench realloc-grow's arrays (8 bytes more a
/// call, to 4 MiB) made an mremap per page past 2 MiB: 484 calls. The
/// slack's pages are never touched, so they cost address space, not
/// memory; shrinking, freeing and the huge cache handle the whole mapping.
let hugeGrowthRoomShift: UInt = 3

/// Resizes a huge block without moving it: shrinking unmaps the tail,
/// growing uses mapped slack first, then asks the kernel to extend the
/// mapping in place (hugeGrowthRoomShift).
func hugeResizeInPlace(_ record: UnsafeMutablePointer<Extent>, newSize: UInt) -> Bool {
  // The limit hugeMap applies: past it, rounding to pages would overflow the
  // Int that mremap takes (a trap, not ENOMEM).
  if newSize > maxRequestSize &- chunkSize { return false }
  let oldUsable = record.pointee.pages << pageShift
  let mapped = hugeRecordBytes(record)
  let usize = roundUpToPage(newSize)
  if usize == oldUsable { return true }
  let p = UnsafeMutableRawPointer(bitPattern: record.pointee.address).unsafelyUnwrapped
  if usize < oldUsable {
    unmapPages(p + Int(usize), mapped &- usize)
    record.pointee.mappedPages = usize >> pageShift
    hugeMappedChange(from: mapped, to: usize)
    hugeBytesSubtract(oldUsable &- usize)
  } else {
    if usize > mapped {
      // The mapping grows by an eighth more than asked (hugeGrowthRoomShift),
      // else, when the pages after it are not free for that, by what was.
      let roomy = usize <= UInt(Int.max) >> 1 ? usize &+ roundUpToPage(usize >> hugeGrowthRoomShift) : usize
      let saved = swalloc_errno()
      var grown = roomy
      var q = swalloc_mremap(p, Int(mapped), Int(roomy), 0)
      if q != p && roomy != usize {
        grown = usize
        q = swalloc_mremap(p, Int(mapped), Int(usize), 0)
      }
      swalloc_set_errno(saved)
      if q != p { return false }
      record.pointee.mappedPages = grown >> pageShift
      hugeMappedChange(from: mapped, to: grown)
    }
    hugeBytesAdd(usize &- oldUsable)
  }
  record.pointee.pages = usize >> pageShift
  return true
}

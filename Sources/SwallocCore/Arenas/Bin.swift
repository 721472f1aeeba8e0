// Arena bins: one per small size class. A bin owns the slabs of its class:
// the current slab regions are taken from, and a doubly linked list of other
// slabs with free regions. Full slabs are on no list; a slab whose last
// region comes back is kept on the bin's spare list while that holds less
// than binSpareBytes (the next refills that need a new slab take them),
// else returned to the arena's extents. The spares are mimalloc's retired
// pages: a thread that allocates a burst of blocks and frees them all
// empties slabs and needs them again at once, and giving their pages back
// to the extents and carving them out again cost 31% of the instructions
// of such a burst when they were introduced (bench burst, callgrind; the
// extent layer has become cheaper since: see binSpareBytes). malloc_trim
// and arena.<i>.purge return the spares, and so do the thread caches'
// collector visits of a class no refill took a spare of since the last
// visit (binTrimSpares), and the end of a burst of frees of the class
// (tcacheEndFreeRun).
//
// Regions freed by threads bound to *other* arenas come back under this
// bin's lock when the flushing thread finds it free (a try-lock), else
// through `remoteFrees`, a lock-free stack of regions linked through their
// first word: the flushing thread pushes a whole batch with one
// compare-and-swap and does not wait for this bin's lock; the bin drains
// the stack (one exchange) when it next works under its own lock.
// (remote_queue:true: always the stack. TcacheFill.swift, flushSmall.)
//
// Those links sit in freed user memory, which a use-after-free write can
// change. So each link is stored encoded (glibc's safe-linking: XOR with
// the link's own address shifted right by 12 and a per-process random
// secret), and every decoded link is validated before it is followed: in an
// arena chunk of this arena, on a page of a slab of this bin's class, on a
// region boundary, and a region still allocated. A forged link decodes to a
// random address that fails these checks (abort, "corrupted remote-free
// list"); writing a chosen address needs the secret.

import CSwallocPlatform
import Synchronization

/// Guarded by `lock`, except `remoteFrees` (atomic: pushed lock-free by other
/// arenas' threads, drained under the lock).
struct Bin {
  // Not the lock first: see the note on Arena's field order (Arena.swift).
  var current: UnsafeMutablePointer<Extent>? = nil
  var lock = Mutex()
  var nonfull = ExtentList()
  var slabCount: UInt = 0
  /// Regions handed out (to threads' caches or to callers).
  var regionsInUse: UInt = 0
  var mallocs: UInt = 0
  var frees: UInt = 0
  var refills: UInt = 0
  /// Head of the remote-free stack (a region address, 0 when empty).
  var remoteFrees: UInt = 0
  /// Empty slabs kept for the next new slabs (see above), linked through
  /// their records' `next`; counted in slabCount. Guarded by lock.
  var spare: UnsafeMutablePointer<Extent>? = nil
  var spareCount: UInt = 0
  /// A refill took a spare since the last binTrimSpares: the class's
  /// slabs are cycling, and its spares stay.
  var spareTaken = false
}

/// Bytes of empty slabs a bin keeps at most (but at least binMinSpares
/// slabs, binMinSparesAbovePage for regions above a page). Spares are
/// resident and serve only their own class: a program with bursts of many
/// classes kept up to this much per class (bench burst, ~40 classes).
/// Measured after the extent layer's split and flush changes (callgrind
/// instructions, peak RSS median of 3):
///
///   | budget | burst Ir | burst peak RSS | xmalloc Ir |
///   |---|---:|---:|---:|
///   | 64 KiB | 519.9M | 7.6 MiB | 257.2M |
///   | 32 KiB | 524.3M | 7.1 MiB | 264.2M |
///   | 16 KiB | 527.0M | 6.7 MiB | 269.4M |
///
/// 32 KiB: most of the memory for a little of the instructions (xmalloc's
/// producers refill from slabs its consumers emptied).
let binSpareBytes: UInt = 32 << 10

/// Empty slabs a bin keeps whatever their bytes: binMinSpares, and
/// binMinSparesAbovePage for regions above a page. The classes above 2 KiB
/// have slabs of 16 to 60 KiB, so binSpareBytes alone kept one of them,
/// and in random churn of such blocks (bench aligned: 4-32 KiB blocks
/// replaced at random) a class's slabs emptied and refilled every few
/// dozen operations: every second emptied slab went back to the arena
/// while the next refill took a slab from elsewhere. A copy of aligned
/// restricted to 4-16 KiB blocks handed out 4624 distinct block addresses
/// with one spare, 4216 with two, 3718 with four (tcmalloc 2578); `wl
/// aligned 1 1` peak RSS 14.4 -> 13.8 MiB with two, 13.3 with four for the
/// classes above a page (eight: the same), time the same (medians of 9-11
/// interleaved runs). Four for every class cost burst (bursts of one class
/// up to 1 KiB) 256 KiB of peak RSS; the classes up to 2 KiB keep two or
/// more by bytes anyway. Burst, churn-lifo, churn-random, cache-scratch,
/// xmalloc, mixed-threads, realloc-grow, mixed-lifetime, larson: the same
/// peak RSS (runs with address randomization off, where those figures are
/// exact); server-churn and leak-grow within noise.
let binMinSpares: UInt = 2
let binMinSparesAbovePage: UInt = 4

/// The thread caches' collector visiting class `sizeClass` (tcacheEvent,
/// tcacheIdleTick): returns the bin's spares to the arena unless a refill
/// took one since the previous visit. Spares serve only their class, and
/// a class whose blocks are not being allocated keeps them for nothing:
/// bench burst (bursts of one random class each, ~20 classes) held up to
/// binSpareBytes in each class it had used.
/// `evenIfTaken`: whatever refills took (the end of a burst of frees of the
/// class, tcacheEndFreeRun).
func binTrimSpares(_ a: UnsafeMutablePointer<Arena>, sizeClass: Int, evenIfTaken: Bool = false) {
  let bin = a.pointee.bins + sizeClass
  mutexLock(&bin.pointee.lock)
  if evenIfTaken || !bin.pointee.spareTaken { binReleaseSpareLocked(a, bin) }
  bin.pointee.spareTaken = false
  mutexUnlock(&bin.pointee.lock)
}

/// Returns the bin's spare slabs to the arena (malloc_trim, arena purge,
/// binTrimSpares); the bin's lock held.
func binReleaseSpareLocked(_ a: UnsafeMutablePointer<Arena>, _ bin: UnsafeMutablePointer<Bin>) {
  while let spare = bin.pointee.spare {
    bin.pointee.spare = spare.pointee.next
    spare.pointee.next = nil
    bin.pointee.slabCount &-= 1
    arenaFreeSlab(a, spare)
  }
  bin.pointee.spareCount = 0
}

// The per-process secret of the remote-free links (from AT_RANDOM) is
// config.remoteLinkSecret (boot-once).

/// Stores the link to `next` (0: end of chain) in the first word of the
/// freed region at `region`, encoded.
@inline(__always)
func remoteLinkStore(_ region: UInt, next: UInt) {
  UnsafeMutableRawPointer(bitPattern: region).unsafelyUnwrapped
    .storeBytes(of: next ^ (region >> 12) ^ config.remoteLinkSecret, as: UInt.self)
}

/// The decoded link stored in the region at `region` (not yet validated).
@inline(__always)
func remoteLinkLoad(_ region: UInt) -> UInt {
  UnsafeRawPointer(bitPattern: region).unsafelyUnwrapped.load(as: UInt.self) ^ (region >> 12) ^ config.remoteLinkSecret
}

/// Pushes the chain `first ... last` (already linked through first words,
/// encoded) onto a bin's remote-free stack: one successful CAS per batch.
func binPushRemote(_ bin: UnsafeMutablePointer<Bin>, first: UInt, last: UInt) {
  let head = atomicUInt(&bin.pointee.remoteFrees)
  var old = head.pointee.load(ordering: .relaxed)
  while true {
    remoteLinkStore(last, next: old)
    let (exchanged, current) = head.pointee.compareExchange(expected: old, desired: first, ordering: .releasing)
    if exchanged { return }
    old = current
  }
}

/// Returns every region on the remote-free stack to its slab; the bin's lock
/// must be held. `sizeClass` is the bin's class.
func binDrainRemoteLocked(_ a: UnsafeMutablePointer<Arena>, _ bin: UnsafeMutablePointer<Bin>, sizeClass: Int) {
  let head = atomicUInt(&bin.pointee.remoteFrees)
  if head.pointee.load(ordering: .relaxed) == 0 { return }
  // The head comes from the bin (allocator memory); every later link from
  // freed user memory, checked by remoteRegionSlab before it is touched.
  var region = head.pointee.exchange(0, ordering: .acquiring)
  let info = config.binInfos[sizeClass]
  // The slab of the previous region: a chain holds runs of regions of one
  // slab, whose page-map checks need not be repeated (the region index and
  // bitmap checks are, for every region).
  var lastSlab: UnsafeMutablePointer<Extent>? = nil
  var freed: UInt = 0
  // (The class's slab size, not the record's `pages`, which lies outside
  // the record's slab line: Extent.)
  let slabBytes = UInt(info.slabPages) << pageShift
  while true {
    var slab: UnsafeMutablePointer<Extent>
    if let s = lastSlab, region &- s.pointee.address < slabBytes {
      slab = s
    } else {
      slab = remoteRegionSlab(a, sizeClass: sizeClass, region)
    }
    guard let index = slabRegionIndex(slab, info: info, address: region) else { remoteListCorrupted() }
    if slab.bitmap.isSet(index) {
      fatal("free(): double free detected (a block freed twice across threads, or a corrupted remote-free list)")
    }
    let next = remoteLinkLoad(region)
    lastSlab = binReturnRegionLocked(a, bin, slab, info: info, index: index) ? slab : nil
    freed &+= 1
    if next == 0 { break }
    region = next
  }
  statsDeallocated(freed &* UInt(info.regionSize))
}

/// The slab of `region`, a link read from a remote-free chain of arena `a`'s
/// bin of class `sizeClass`; aborts unless it lies in a slab of that class
/// in that arena (the caller checks the region itself).
@inline(__always)
private func remoteRegionSlab(_ a: UnsafeMutablePointer<Arena>, sizeClass: Int, _ region: UInt) -> UnsafeMutablePointer<Extent> {
  guard region & (quantum &- 1) == 0, let meta = arenaChunkMeta(region), meta.pointee.arena == a else {
    remoteListCorrupted()
  }
  let entry = meta.pageMap[Int(pageIndexInChunk(region))]
  guard entry >> pageEntryClassShift == UInt(sizeClass) &+ 1, let slab = pageEntryExtent(entry),
        slab.pointee.state == .slab else { remoteListCorrupted() }
  return slab
}

/// secure:true: aborts unless `address` is the start of a region of `slab`
/// that is handed out (checked under the bin's lock, as the bitmap is).
func slabCheckAllocated(_ a: UnsafeMutablePointer<Arena>, _ slab: UnsafeMutablePointer<Extent>,
                        _ sizeClass: Int, address: UInt) {
  let bin = a.pointee.bins + sizeClass
  let (index, free) = withLock(&bin.pointee.lock) {
    let index = slabRegionIndex(slab, info: config.binInfos[sizeClass], address: address)
    return (index, index.map { slab.bitmap.isSet($0) } ?? false)
  }
  if index == nil { fatal("free(): invalid pointer (not the start of an allocated block)") }
  if free { fatal("free(): double free detected") }
}

private func remoteListCorrupted() -> Never {
  fatal("corrupted remote-free list (a freed block was written to after free)")
}

private func nonfullPush(_ bin: UnsafeMutablePointer<Bin>, _ slab: UnsafeMutablePointer<Extent>) {
  slab.pointee.slabList = .nonfull
  bin.pointee.nonfull.pushFront(slab)
}

private func nonfullRemove(_ bin: UnsafeMutablePointer<Bin>, _ slab: UnsafeMutablePointer<Extent>) {
  bin.pointee.nonfull.remove(slab)
  slab.pointee.slabList = .full
}

/// Fills `out` with up to `want` regions of class `sizeClass` from arena `a`;
/// returns how many it got (0 only when memory is exhausted).
func binFill(_ a: UnsafeMutablePointer<Arena>, sizeClass: Int,
             into out: UnsafeMutablePointer<UnsafeMutableRawPointer?>, want: Int) -> Int {
  let bin = a.pointee.bins + sizeClass
  let regionSize = UInt(config.binInfos[sizeClass].regionSize)
  mutexLock(&bin.pointee.lock)
  binDrainRemoteLocked(a, bin, sizeClass: sizeClass)
  // Whole free lines first where another thread may hold blocks
  // (slabTakeWholeLines); alone, the address order.
  let lineGroup = swalloc_single_threaded() ? 1 : Int(slabLineRegions(sizeClass: sizeClass))
  var got = 0
  while got < want {
    var slab = bin.pointee.current
    if slab == nil || slab.unsafelyUnwrapped.pointee.freeRegions == 0 {
      if let full = slab { full.pointee.slabList = .full }
      if let n = bin.pointee.nonfull.first {
        nonfullRemove(bin, n)
        slab = n
      } else if let spare = bin.pointee.spare {
        bin.pointee.spare = spare.pointee.next
        bin.pointee.spareCount &-= 1
        bin.pointee.spareTaken = true
        spare.pointee.next = nil
        slab = spare
      } else if let fresh = arenaAllocSlab(a, sizeClass: sizeClass) {
        bin.pointee.slabCount &+= 1
        slab = fresh
      } else {
        bin.pointee.current = nil
        break
      }
      slab.unsafelyUnwrapped.pointee.slabList = .current
      bin.pointee.current = slab
    }
    got &+= slabTakeRegions(slab.unsafelyUnwrapped, regionSize: regionSize, into: out + got, want: want &- got,
                            lineGroup: lineGroup)
    invariant(slab.unsafelyUnwrapped.bitmap.countSet() == UInt(slab.unsafelyUnwrapped.pointee.freeRegions),
              "a slab's free count disagrees with its bitmap after a refill")
  }
  invariant(got <= want, "a refill took more regions than asked")
  bin.pointee.regionsInUse &+= UInt(got)
  statsAllocated(UInt(got) &* regionSize)
  bin.pointee.mallocs &+= UInt(got)
  bin.pointee.refills &+= 1
  mutexUnlock(&bin.pointee.lock)
  return got
}

/// Returns one region to its slab; the bin's lock must be held. The caller
/// accounts the bytes with statsDeallocated, once per batch.
func binFreeLocked(_ a: UnsafeMutablePointer<Arena>, _ bin: UnsafeMutablePointer<Bin>,
                   _ slab: UnsafeMutablePointer<Extent>, address: UInt) {
  let info = config.binInfos[Int(slab.pointee.sizeClass)]
  guard let index = slabRegionIndex(slab, info: info, address: address) else {
    fatal("free(): invalid pointer (not the start of an allocated block)")
  }
  if slab.bitmap.isSet(index) { fatal("free(): double free detected") }
  binReturnRegionLocked(a, bin, slab, info: info, index: index)
}

/// Returns region `index` of `slab`, which the caller found handed out;
/// the bin's lock held. False when the slab, now empty, went back to the
/// arena (its record may be reused at once).
@inline(__always) @discardableResult
func binReturnRegionLocked(_ a: UnsafeMutablePointer<Arena>, _ bin: UnsafeMutablePointer<Bin>,
                           _ slab: UnsafeMutablePointer<Extent>, info: BinInfo, index: UInt) -> Bool {
  invariant(!slab.bitmap.isSet(index), "a region returned to its slab was free already")
  invariant(bin.pointee.regionsInUse > 0, "a bin's regions in use went below zero")
  slab.bitmap.set(index)
  slab.pointee.freeRegions &+= 1
  bin.pointee.regionsInUse &-= 1
  invariant(UInt32(slab.pointee.freeRegions) <= info.regionCount, "a slab has more free regions than regions")
  invariant(slab.bitmap.countSet() == UInt(slab.pointee.freeRegions), "a slab's free count disagrees with its bitmap")
  bin.pointee.frees &+= 1
  let free = slab.pointee.freeRegions
  if UInt32(free) == info.regionCount || (free == 1 && slab.pointee.slabList == .full) {
    return binSlabChangedList(a, bin, slab, info: info)
  }
  return true
}

/// A region came back to `slab`, which is now empty or was full: moves it
/// to the list it belongs on (the spare list, or back to the arena; the
/// nonfull list). The bin's lock held. False when the slab went back to
/// the arena.
@inline(never)
private func binSlabChangedList(_ a: UnsafeMutablePointer<Arena>, _ bin: UnsafeMutablePointer<Bin>,
                                _ slab: UnsafeMutablePointer<Extent>, info: BinInfo) -> Bool {
  if UInt32(slab.pointee.freeRegions) == info.regionCount {
    if slab.pointee.slabList == .current { return true }
    if slab.pointee.slabList == .nonfull { nonfullRemove(bin, slab) }
    if bin.pointee.spareCount < (UInt(info.regionSize) > pageSize ? binMinSparesAbovePage : binMinSpares)
       || (bin.pointee.spareCount &+ 1) &* (UInt(info.slabPages) << pageShift) <= binSpareBytes {
      slab.pointee.slabList = .spare
      slab.pointee.next = bin.pointee.spare
      bin.pointee.spare = slab
      bin.pointee.spareCount &+= 1
      return true
    }
    bin.pointee.slabCount &-= 1
    arenaFreeSlab(a, slab)
    return false
  }
  // The first free region of a full slab (a slab of one region is empty
  // instead, above).
  nonfullPush(bin, slab)
  return true
}

/// A thread cache's flush into its own arena: returns to their slabs the
/// regions of class `sizeClass` among `items[0 ..< count]` that lie in
/// arena `a`'s chunks, and moves the others to the front of `items`;
/// returns how many it moved. The bin's lock held. Adds the regions
/// returned to `freed` (the caller accounts their bytes).
///
/// Every item is checked as binFreeLocked checks a region (its page is a
/// slab page of this class, a region starts there, the region is handed
/// out): free validated it when it entered the cache, but the same block
/// freed by two threads may have left its slab already, even the slab its
/// pages. What is not repeated: the page-map lookup for an item in the
/// slab of the previous one (a flush returns runs of regions of one slab,
/// a burst's blocks in or against allocation order; that slab is still
/// live, as it went back to the arena only through this loop, which
/// forgets it then, as binDrainRemoteLocked does), and the bin's counters,
/// added once per batch (bench burst: the flush 69 -> 43 instructions per
/// block, callgrind). Each run of items in one slab is an inner loop that
/// keeps the slab in registers and updates its free count and list once:
/// 32 -> 22 instructions per region (burst 453M -> 439M, xmalloc 224M ->
/// 214M in all). Within it, items that continue a run of adjacent regions
/// (up or down) are taken by one compare each and their bits set a word at
/// a time: the whole flush 31 -> 26 instructions per region in burst
/// (callgrind, `wl burst 1 0.2` 460M -> 448M; `wl xmalloc 2 0.3` 217M ->
/// 208M); frees in random order pay the neighbour compare, +0.1% to +0.4%
/// (churn-random, mixed-lifetime, server-churn). A run's length is bounded
/// up front by the items left and the slab's regions beyond its first,
/// so its loop is a load, a compare and a count (6 instructions per
/// region, from 15 with a slab-range test per item and 8 with the checked
/// conversion of its byte offset): `wl burst 1 0.2` 448.3M -> 437.1M,
/// `wl xmalloc 2 0.3` 207.8M -> 200.2M; the conversion unchecked, `wl
/// burst 1 0.1` 167.4M -> 165.4M, `wl xmalloc 2 0.2` 113.5M -> 111.9M.
func binFreeBatchLocked(_ a: UnsafeMutablePointer<Arena>, _ bin: UnsafeMutablePointer<Bin>, sizeClass: Int,
                        _ items: UnsafeMutablePointer<UnsafeMutableRawPointer?>, count: Int,
                        freed: inout UInt) -> Int {
  let info = config.binInfos[sizeClass]
  let code = UInt(sizeClass) &+ 1
  let regionSize = UInt(info.regionSize)
  let regionCount = info.regionCount
  let magic = UInt64(info.divisionMagic)
  // The bytes a slab's regions cover: an offset below it that is a
  // multiple of the region size is a region's start, with no separate
  // test of the index against the region count.
  let regionBytes = UInt(regionCount) &* regionSize
  var kept = 0
  var returned: UInt = 0
  // (Every item is a live block, so a chunk holding one is not unmapped
  // during the flush.)
  var chunks = ChunkMetaCursor()
  var i = 0
  while i < count {
    let address = UInt(bitPattern: items[i])
    let meta = chunks.meta(address)
    if meta.pointee.arena != a {
      items[kept] = items[i]
      kept &+= 1
      i &+= 1
      continue
    }
    let entry = meta.pageMap[Int(pageIndexInChunk(address))]
    guard entry >> pageEntryClassShift == code, let s = pageEntryExtent(entry) else {
      fatal("free(): double free detected (a block freed twice across threads)")
    }
    let slabStart = s.pointee.address
    // Past the last region: the slab's leftover tail.
    if address &- slabStart >= regionBytes { fatal("free(): invalid pointer (not the start of an allocated block)") }
    // The run of items in this slab, from this one on: each one's region
    // start and bit, with the slab's values in registers; the free count
    // and the slab's list once per run. (A region freed twice within the
    // run finds its bit set; so does any item after the slab emptied.)
    let bitmap = Bitmap(words: (UnsafeMutableRawPointer(s) + extentBitmapOffset).assumingMemoryBound(to: UInt64.self),
                        bitCount: UInt(regionCount))
    var run: UInt16 = 0
    repeat {
      // (Read as a word: the optional's nil test would cost a branch.)
      let address = UnsafeRawPointer(items + i).load(as: UInt.self)
      let offset = address &- slabStart
      if offset >= regionBytes { break }
      let index = UInt((UInt64(offset) &* magic) >> 32)
      if index &* regionSize != offset { fatal("free(): invalid pointer (not the start of an allocated block)") }
      // The items after it that continue a run of adjacent regions, up or
      // down (a burst's blocks freed in or against allocation order come
      // back so): each costs a compare, and the run's bits are set and
      // checked a word at a time. Each item of a run is a distinct region
      // of this slab, so a bit found set is a double free as before.
      i &+= 1
      var first = index
      var n: UInt = 1
      if i < count {
        let next = UnsafeRawPointer(items + i).load(as: UInt.self)
        let up = next == address &+ regionSize
        if up || next == address &- regionSize {
          // The run can go on for as many items as are left and as many
          // regions as the slab has beyond this one in the run's direction
          // (so every item of it lies in this slab), one compare each.
          let step = up ? regionSize : 0 &- regionSize
          let regionsLeft = up ? UInt(regionCount) &- 1 &- index : index
          let limit = min(UInt(count &- i), regionsLeft)
          var expected = next
          var k: UInt = 0
          let rest = UnsafeRawPointer(items + i)
          while k < limit {
            let item = rest.load(fromByteOffset: Int(bitPattern: k &<< 3), as: UInt.self)
            if item != expected { break }
            expected &+= step
            k &+= 1
          }
          n &+= k
          i &+= Int(k)
          if !up { first = index &- k }
        }
      }
      // (A lone region, the rule when frees come in random order: one
      // bit. Callgrind: python3 1658.4M -> 1656.8M instructions, larson
      // -0.6%, churn-random -0.14%; burst, whose regions come in runs,
      // +0.15%.)
      let wasClear = n == 1 ? bitmap.setWasClear(first) : bitmap.setRangeWasClear(first, count: n)
      if !wasClear { fatal("free(): double free detected") }
      run &+= UInt16(truncatingIfNeeded: n)
    } while i < count
    let free = s.pointee.freeRegions &+ run
    s.pointee.freeRegions = free
    returned &+= UInt(run)
    invariant(UInt32(free) <= regionCount, "a slab has more free regions than regions")
    invariant(s.bitmap.countSet() == UInt(free), "a slab's free count disagrees with its bitmap")
    // Empty now, or full before the run (a full slab is on no list).
    if UInt32(free) == regionCount || s.pointee.slabList == .full {
      _ = binSlabChangedList(a, bin, s, info: info)
    }
  }
  invariant(bin.pointee.regionsInUse >= returned, "a bin's regions in use went below zero")
  bin.pointee.regionsInUse &-= returned
  bin.pointee.frees &+= returned
  freed &+= returned
  return kept
}

// The opt-in secure level (`secure:true`), for programs that would rather
// pay some speed than let a heap bug go unnoticed (mimalloc's secure mode
// and scudo are the models). On top of the default hardening
// (docs/ARCHITECTURE.md, "Hardening"):
//
// * No free is cached: every free takes the slow path, is validated in full
//   (lookupAllocation) and enters the thread's quarantine, so the free fast
//   path's gaps (A-B-A double frees, interior pointers) are closed.
// * Quarantine: the last `quarantineSlots` blocks a thread freed wait in a
//   FIFO before they go back to their slab or extent (delayed reuse: a
//   dangling pointer does not see its block handed out again at once). A
//   free of a block already in the quarantine is a double free; one that
//   left it reaches its slab or extent, whose state checks catch it.
// * Randomised reuse: a refill of the thread cache shuffles the regions it
//   takes, so which address the next malloc returns is not predictable from
//   the order of earlier frees (heap grooming).
//
// Guard pages around slabs and runs are not built: each guard splits a
// mapping in two, and with one per run a large heap would reach the
// kernel's per-process mapping limit (vm.max_map_count, 65530).


/// Blocks a thread's quarantine holds before the oldest is really freed.
let quarantineSlots = 128

/// A thread's quarantine, in base memory: a ring of freed pointers.
struct Quarantine {
  var next: Int = 0
  var count: Int = 0
  var rng: UInt64 = 0
}

@inline(__always)
private func quarantineRing(_ q: UnsafeMutablePointer<Quarantine>) -> UnsafeMutablePointer<UInt> {
  (UnsafeMutableRawPointer(q) + 64).assumingMemoryBound(to: UInt.self)
}

/// The quarantine of the thread owning `t`, created on first use; nil when
/// metadata memory is exhausted (the free then goes straight to its arena).
private func quarantineOf(_ t: UnsafeMutablePointer<Tcache>) -> UnsafeMutablePointer<Quarantine>? {
  if let q = t.pointee.quarantine { return q }
  guard let raw = baseAlloc(64 &+ UInt(quarantineSlots &* 8), alignment: 64) else { return nil }
  let q = raw.bindMemory(to: Quarantine.self, capacity: 1)
  q.initialize(to: Quarantine(rng: UInt64(truncatingIfNeeded: config.remoteLinkSecret ^ UInt(bitPattern: raw)) | 1))
  t.pointee.quarantine = q
  return q
}

/// secure:true's free of a validated small or large block: into the
/// quarantine (aborting if it is there already), the oldest block out of
/// it and back to its arena. Returns false when there is no quarantine.
func quarantineFree(_ t: UnsafeMutablePointer<Tcache>, _ pointer: UnsafeMutableRawPointer,
                    _ allocation: Allocation) -> Bool {
  guard let q = quarantineOf(t) else { return false }
  let ring = quarantineRing(q)
  let address = UInt(bitPattern: pointer)
  if quarantineHolds(t, address) { fatal("free(): double free detected (the block is in the quarantine)") }
  // The tag that makes quarantineHolds cheap (blocks are at least 16 bytes).
  (pointer + 8).storeBytes(of: quarantineTag(address), as: UInt.self)
  var code: UInt = 0
  switch allocation {
  case .small(_, _, let c): code = UInt(c) &+ 1
  case .large(_, _, let c): code = UInt(c) &+ 1; largeSetCached(address, true)
  case .huge: return false
  }
  // Entries keep the page-map class code above the 48-bit address.
  let word = address | (code << pageEntryClassShift)
  if q.pointee.count < quarantineSlots {
    ring[q.pointee.count] = word
    q.pointee.count &+= 1
    return true
  }
  let oldest = ring[q.pointee.next]
  ring[q.pointee.next] = word
  q.pointee.next = (q.pointee.next &+ 1) % quarantineSlots
  quarantineRelease(oldest)
  return true
}

/// What a block in a quarantine holds in its second word: a value that
/// depends on its address and the process's secret, so a live block holds
/// it only by a 2^-64 chance (or by a program that read it after free).
@inline(__always)
private func quarantineTag(_ address: UInt) -> UInt { address ^ config.remoteLinkSecret ^ 0x5157_A110_C0DE_0001 }

/// Whether the calling thread's quarantine holds the block at `address`:
/// the ring is scanned only when the block carries the tag (freed memory
/// the program can write: a cleared tag lets a double free through to the
/// slab's bitmap check when the block leaves the quarantine).
func quarantineHolds(_ t: UnsafeMutablePointer<Tcache>, _ address: UInt) -> Bool {
  guard let q = t.pointee.quarantine else { return false }
  if UnsafeRawPointer(bitPattern: address &+ 8).unsafelyUnwrapped.load(as: UInt.self) != quarantineTag(address) {
    return false
  }
  let ring = quarantineRing(q)
  var i = 0
  while i < q.pointee.count {
    if ring[i] & pageEntryAddressMask == address { return true }
    i &+= 1
  }
  return false
}

/// Empties the thread's quarantine (thread exit, cache flush, malloc_trim).
func quarantineDrain(_ t: UnsafeMutablePointer<Tcache>) {
  guard let q = t.pointee.quarantine else { return }
  let ring = quarantineRing(q)
  var i = 0
  while i < q.pointee.count { quarantineRelease(ring[i]); i &+= 1 }
  q.pointee.count = 0
  q.pointee.next = 0
}

/// Really frees a block leaving the quarantine. It was validated when it
/// entered, but another thread may have freed it meanwhile (a double free
/// across threads): its page must still carry the class it had then.
private func quarantineRelease(_ entryWord: UInt) {
  let address = entryWord & pageEntryAddressMask
  // Untagged, so a later owner's free does not scan the ring for nothing.
  UnsafeMutableRawPointer(bitPattern: address &+ 8).unsafelyUnwrapped.storeBytes(of: 0, as: UInt.self)
  let code = entryWord >> pageEntryClassShift
  let arena = chunkArena(address)
  let entry = pageEntry(address)
  if entry >> pageEntryClassShift != code { fatal("free(): double free detected (a block freed twice across threads)") }
  let sizeClass = Int(code &- 1)
  if sizeClass < config.smallClassCount {
    let bin = arena.pointee.bins + sizeClass
    mutexLock(&bin.pointee.lock)
    binFreeLocked(arena, bin, pageEntryExtent(entry).unsafelyUnwrapped, address: address)
    mutexUnlock(&bin.pointee.lock)
    statsDeallocated(sizeClassSize(sizeClass))
  } else {
    arenaFreeLarge(arena, address: address, fromThreadCache: true)
  }
}

/// secure:true: shuffles the `count` regions a refill just put at `items`.
func quarantineShuffle(_ t: UnsafeMutablePointer<Tcache>, _ items: UnsafeMutablePointer<UnsafeMutableRawPointer?>, count: Int) {
  guard let q = quarantineOf(t) else { return }
  var i = count &- 1
  while i > 0 {
    var x = q.pointee.rng
    x ^= x << 13; x ^= x >> 7; x ^= x << 17
    q.pointee.rng = x
    let j = Int(x % UInt64(i &+ 1))
    let tmp = items[i]; items[i] = items[j]; items[j] = tmp
    i &-= 1
  }
}

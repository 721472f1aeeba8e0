// Huge allocations (above 2 MiB): mapped directly, aligned to the chunk size
// so the page map can key them by chunk, and unmapped on free. Each has an
// Extent record (state .huge) that the page map points to.

import Synchronization

import CSwallocPlatform

var hugeRecords = RecycleList()
var hugeBytes: UInt = 0
var hugeCount: UInt = 0

/// The largest request any allocation function accepts (PTRDIFF_MAX).
let maxRequestSize = UInt(Int.max)

func hugeAlloc(_ size: UInt, alignment: UInt) -> UnsafeMutableRawPointer? {
  if size > maxRequestSize &- chunkSize { return nil }
  let usize = roundUpToPage(size)
  var raw = hugeRecords.pop()
  if raw == nil { raw = baseAlloc(UInt(MemoryLayout<Extent>.stride), alignment: 64) }
  guard let raw else { return nil }
  let record = raw.bindMemory(to: Extent.self, capacity: 1)
  guard let p = mapAligned(usize, alignment: max(alignment, chunkSize)) else {
    hugeRecords.push(raw)
    return nil
  }
  record.initialize(to: Extent(address: UInt(bitPattern: p), pages: usize >> pageShift, state: .huge))
  if !pageMapSet(UInt(bitPattern: p), UInt(bitPattern: record)) {
    unmapPages(p, usize)
    hugeRecords.push(raw)
    return nil
  }
  atomicUInt(&hugeBytes).pointee.add(usize, ordering: .relaxed)
  atomicUInt(&hugeCount).pointee.add(1, ordering: .relaxed)
  return p
}

func hugeFree(_ record: UnsafeMutablePointer<Extent>) {
  let size = record.pointee.pages << pageShift
  let p = UnsafeMutableRawPointer(bitPattern: record.pointee.address).unsafelyUnwrapped
  _ = pageMapSet(record.pointee.address, 0)
  unmapPages(p, size)
  hugeRecords.push(UnsafeMutableRawPointer(record))
  atomicUInt(&hugeBytes).pointee.subtract(size, ordering: .relaxed)
  atomicUInt(&hugeCount).pointee.subtract(1, ordering: .relaxed)
}

/// Resizes a huge mapping without moving it: shrinking unmaps the tail,
/// growing asks the kernel to extend the mapping in place.
func hugeResizeInPlace(_ record: UnsafeMutablePointer<Extent>, newSize: UInt) -> Bool {
  let oldSize = record.pointee.pages << pageShift
  let usize = roundUpToPage(newSize)
  if usize == oldSize { return true }
  let p = UnsafeMutableRawPointer(bitPattern: record.pointee.address).unsafelyUnwrapped
  if usize < oldSize {
    unmapPages(p + Int(usize), oldSize &- usize)
    atomicUInt(&hugeBytes).pointee.subtract(oldSize &- usize, ordering: .relaxed)
  } else {
    let saved = swalloc_errno()
    let q = swalloc_mremap(p, Int(oldSize), Int(usize), 0)
    swalloc_set_errno(saved)
    if q != p { return false }
    atomicUInt(&hugeBytes).pointee.add(usize &- oldSize, ordering: .relaxed)
  }
  record.pointee.pages = usize >> pageShift
  return true
}

// The pointer -> metadata map: a two-level radix tree over the 47-bit user
// address space at chunk (4 MiB) granularity. A lookup is two dependent
// loads. A leaf entry is either
//   chunkAddress | 1      the chunk belongs to an arena (its header holds the
//                         per-page map, see Chunk.swift), or
//   descriptor address    the start of a huge allocation (an Extent record).
// Zero means "not allocated by swalloc".

import Synchronization

let chunkShift: UInt = 22
let chunkSize: UInt = 1 << chunkShift
let chunkMask: UInt = chunkSize &- 1
let addressBits: UInt = 47
let rootShift: UInt = 36
let rootEntries = 1 << (addressBits - rootShift)          // 2048
let leafEntries = 1 << (rootShift - chunkShift)           // 16384
let pageMapArenaChunkTag: UInt = 1

var pageMapRoot: UnsafeMutablePointer<UnsafeMutablePointer<UInt>?> = UnsafeMutablePointer(bitPattern: 64)!
var pageMapLock = Mutex()

func pageMapBoot() -> Bool {
  guard let root = baseAlloc(UInt(rootEntries &* 8), alignment: 4096) else { return false }
  pageMapRoot = root.bindMemory(to: UnsafeMutablePointer<UInt>?.self, capacity: rootEntries)
  return true
}

@inline(__always)
func pageMapLookup(_ address: UInt) -> UInt {
  if address >> addressBits != 0 { return 0 }
  guard let leaf = pageMapRoot[Int(address >> rootShift)] else { return 0 }
  return leaf[Int((address >> chunkShift) & UInt(leafEntries &- 1))]
}

/// Records `value` for the chunk containing `address`, creating the leaf if
/// needed. Returns false when metadata memory is exhausted.
func pageMapSet(_ address: UInt, _ value: UInt) -> Bool {
  let rootIndex = Int(address >> rootShift)
  var leaf = pageMapRoot[rootIndex]
  if leaf == nil {
    mutexLock(&pageMapLock)
    leaf = pageMapRoot[rootIndex]
    if leaf == nil {
      guard let raw = baseAlloc(UInt(leafEntries &* 8), alignment: 4096) else {
        mutexUnlock(&pageMapLock)
        return false
      }
      let l = raw.bindMemory(to: UInt.self, capacity: leafEntries)
      // Publish the zeroed leaf with release order so lock-free readers see zeros.
      atomicUInt(UnsafeMutableRawPointer(pageMapRoot + rootIndex).assumingMemoryBound(to: UInt.self))
        .pointee.store(UInt(bitPattern: raw), ordering: .releasing)
      leaf = l
    }
    mutexUnlock(&pageMapLock)
  }
  leaf.unsafelyUnwrapped[Int((address >> chunkShift) & UInt(leafEntries &- 1))] = value
  return true
}

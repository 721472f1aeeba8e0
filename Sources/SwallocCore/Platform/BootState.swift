// Whether the allocator has booted: read by every layer (a pointer handed
// in before boot cannot be one of ours), written once by Init.swift.

import Synchronization

/// 0: not booted, 1: booted. Atomic: stored with release order once boot is
/// done, loaded with acquire order.
let bootState = Atomic<UInt32>(0)

@inline(__always)
func isBooted() -> Bool {
  bootState.load(ordering: .acquiring) == 1
}

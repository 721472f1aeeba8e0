@testable import SwallocCore

/// A fresh arena that no thread is bound to, so a test sees exactly its own
/// extents, slabs and counters (arena slot 0 keeps the shared arena).
func makePrivateArena() -> UnsafeMutablePointer<Arena> {
  mutexLock(&arenasLock)
  defer { mutexUnlock(&arenasLock) }
  let saved = arenas[0]
  let a = arenaCreate(0)!
  arenas[0] = saved
  return a
}

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

#if canImport(Glibc)
import Glibc
#endif

/// Makes sure the arena table holds at least `count` arenas, adding
/// explicit ones (arenas.create) if needed: a test that moves a thread to
/// another arena needs one to move it to whatever the machine's CPU count
/// (the number of automatic arenas).
func ensureArenas(_ count: Int) {
  while arenaCount < count {
    var index: UInt32 = 0
    var length = MemoryLayout<UInt32>.size
    if swallocCtl("arenas.create", &index, &length, nil, 0) != 0 { return }
  }
}

/// The threads bound to any arena (arenaThreadCounts summed): a thread's
/// cache or UncachedThread record counts one until its exit.
func boundThreads() -> Int {
  mutexLock(&arenasLock)
  defer { mutexUnlock(&arenasLock) }
  return (0..<arenaCount).reduce(0) { $0 + arenaThreadCounts[$1] }
}

/// Pages of [p, p + bytes) the kernel holds resident (mincore); -1 when
/// mincore fails (p not page-aligned, or not mapped).
func residentPageCount(_ p: UnsafeMutableRawPointer, bytes: Int) -> Int {
  var vector = [UInt8](repeating: 0, count: (bytes + Int(pageSize) - 1) >> Int(pageShift))
  if mincore(p, bytes, &vector) != 0 { return -1 }
  return vector.reduce(0) { $0 + Int($1 & 1) }
}

/// Runs `body(i)` for i in 0..<count, each on a thread of its own, and
/// returns once every thread has exited: unlike Foundation's Thread, the
/// threads' exit work (their tcaches flushed by the tsd destructor) is over
/// before the next test changes any option.
func runJoinedThreads(_ count: Int, _ body: @escaping (Int) -> Void) {
  final class Job {
    let body: (Int) -> Void
    let index: Int
    init(_ body: @escaping (Int) -> Void, _ index: Int) { self.body = body; self.index = index }
  }
  var threads: [pthread_t] = []
  for i in 0..<count {
    var thread = pthread_t()
    let job = Unmanaged.passRetained(Job(body, i)).toOpaque()
    let rc = pthread_create(&thread, nil, { raw in
      let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
      job.body(job.index)
      return nil
    }, job)
    precondition(rc == 0, "pthread_create failed")
    threads.append(thread)
  }
  for thread in threads { pthread_join(thread, nil) }
}

extension UnsafeMutablePointer where Pointee == TcacheBin {
  /// Pushes onto the stack's own entries, above its foreign ones if it has
  /// any (for the tests, which push onto stacks of every kind: a stack
  /// without foreign entries has fastLimit at its start or its end).
  func push(_ p: UnsafeMutableRawPointer) -> Bool {
    push(p, floor: pointee.fastLimit < pointee.end ? pointee.fastLimit : pointee.start)
  }
}

/// A new thread cache bound to `arena` whose stacks are all in their full
/// slots at their base capacity, as after their first moves out of the
/// dense slots (tcacheDenseCapacity): for the tests of full-size stacks,
/// which push onto them directly.
func tcacheCreateFullSize(arena: UnsafeMutablePointer<Arena>) -> UnsafeMutablePointer<Tcache>? {
  guard let t = tcacheCreate(arena: arena) else { return nil }
  for c in 0..<config.tcacheClassCount { tcacheLeaveDenseSlot(t, sizeClass: c) }
  return t
}

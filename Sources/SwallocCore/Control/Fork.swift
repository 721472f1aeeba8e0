// fork(2) safety. The protocol:
//  - A process that has only ever had one thread (glibc's
//    __libc_single_threaded) takes no lock: no other thread can hold one,
//    and this thread may be inside the allocator itself, when fork is called
//    from a signal handler that interrupted malloc or free. Waiting for
//    those locks would never end; the child's copy of the thread resumes the
//    interrupted call and releases them, as the parent's does. (glibc's
//    malloc does the same; POSIX lets such a child make only
//    async-signal-safe calls before it execs.)
//  - Otherwise the prepare handler first takes glibc's stdio stream list
//    lock, then every allocator lock in the global order (report -> resident
//    scan -> explicit caches -> arenas -> bins -> extents -> caches and
//    records -> page map -> base), so the child's copy of the heap is
//    consistent. Stream list lock
//    first because stdio calls malloc while it holds a stream's lock
//    (getline): had the allocator's locks come first, a thread in fflush(NULL)
//    holding the list lock and waiting for that stream, and the getline
//    thread waiting for an allocator lock, would block glibc's fork, which
//    takes the list lock after the handlers. glibc orders its own malloc's
//    locks the same way. The parent releases everything; the child, now
//    single-threaded, resets it.
// A fork from a signal handler that interrupted the allocator in a process
// with several threads is not supported (glibc's malloc does not support
// it either): the handler would wait for a lock its own thread holds.

import CSwallocPlatform

/// Whether the last prepare handler took the locks (the parent and child
/// handlers run on the thread that ran it). Written only while every
/// allocator lock is held, or when the process has a single thread.
private nonisolated(unsafe) var forkTookLocks = false

func forEachLockInOrder(_ body: (UnsafeMutablePointer<Mutex>) -> Void) {
  // The report lock is outermost: printing a report reads the arenas. A
  // fork from a report's write callback runs on the thread that holds it:
  // the handlers leave it alone (the parent keeps holding it, and so does
  // the child's only thread, which resumes the callback and releases it).
  if !reportHeldByThisThread() { body(&reportLock) }
  // Measuring resident memory takes the huge cache and base locks inside it.
  body(&residentScanLock)
  // The explicit caches' table: held while a cache is made (base and
  // recycle locks) or flushed (bin, extent and arena locks).
  body(&explicitTcachesLock)
  body(&arenasLock)
  var i = 0
  while i < arenaCount {
    if let a = arenas[i] {
      var c = 0
      while c < config.smallClassCount { body(&(a.pointee.bins + c).pointee.lock); c &+= 1 }
      body(&a.pointee.extentLock)
    }
    i &+= 1
  }
  body(&tcacheRecycleLock)
  body(&chunkMetaRecycleLock)
  body(&hugeCacheLock)
  body(&hugeRecordsLock)
  body(&profDumpLock)
  body(&profLock)
  body(&pageMapLock)
  body(&baseLock)
}

// The locks are taken in forkPrepare and released in forkParent/forkChild,
// so these use mutexLock/mutexUnlock directly, not withLock.
func forkPrepare() {
  if !isBooted() { return }
  if swalloc_single_threaded() { forkTookLocks = false; return }
  swalloc_stdio_list_lock()
  forEachLockInOrder { mutexLock($0) }
  forkTookLocks = true
}

func forkParent() {
  if !isBooted() || !forkTookLocks { return }
  forkTookLocks = false
  forEachLockInOrder { mutexUnlock($0) }
  swalloc_stdio_list_unlock()
}

func forkChild() {
  if !isBooted() { return }
  if forkTookLocks {
    forkTookLocks = false
    forEachLockInOrder { mutexResetInChild($0) }
    swalloc_stdio_list_reset()
    // The parent's other threads are gone.
    arenaRecountInForkChild(own: currentTcache()?.pointee.arena ?? currentUncached()?.pointee.arena)
  }
  backgroundThreadResetInChild()
}

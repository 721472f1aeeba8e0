// fork(2) safety: before fork every allocator lock is taken (in the global
// order report -> resident scan -> arenas -> bins -> extents -> caches and
// records -> page map -> base), so the
// child's copy of the heap is consistent; the parent releases them and the
// child, now single-threaded, resets them.

func forEachLockInOrder(_ body: (UnsafeMutablePointer<Mutex>) -> Void) {
  // The report lock is outermost: printing a report reads the arenas. A
  // fork from a report's write callback runs on the thread that holds it:
  // the handlers leave it alone (the parent keeps holding it, and so does
  // the child's only thread, which resumes the callback and releases it).
  if !reportHeldByThisThread() { body(&reportLock) }
  // Measuring resident memory takes the huge cache and base locks inside it.
  body(&residentScanLock)
  body(&arenasLock)
  var i = 0
  while i < arenaCount {
    if let a = arenas[i] {
      var c = 0
      while c < smallClassCount { body(&(a.pointee.bins + c).pointee.lock); c &+= 1 }
      body(&a.pointee.extentLock)
    }
    i &+= 1
  }
  body(&tcacheRecycleLock)
  body(&chunkMetaRecycleLock)
  body(&hugeCacheLock)
  body(&hugeRecordsLock)
  body(&pageMapLock)
  body(&baseLock)
}

func forkPrepare() {
  if !isBooted() { return }
  forEachLockInOrder { mutexLock($0) }
}

func forkParent() {
  if !isBooted() { return }
  forEachLockInOrder { mutexUnlock($0) }
}

func forkChild() {
  if !isBooted() { return }
  forEachLockInOrder { mutexResetInChild($0) }
  backgroundThreadResetInChild()
}

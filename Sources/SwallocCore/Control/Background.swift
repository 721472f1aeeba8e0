// The background purging thread. Without it, decay runs only on the
// allocator's slow paths, so a program that goes idle keeps its dirty pages
// until its next slow-path call (a thread-cache hit never takes one: an
// idle server making one small allocation a second kept 1.1 GiB resident).
// The thread wakes every decay epoch (at most once a second), runs each
// arena's decay tick and expires cached huge mappings.
//
// When it runs: `background_thread:true` from the first slow path on;
// `false` never; by default once a second thread has allocated (servers,
// thread pools: the programs that go idle holding memory), while a
// single-threaded program, whose own calls keep decay going, gets no
// thread it did not ask for.
//
// It is started lazily: never by the library's constructor or boot, but by
// the first slow-path call after the constructor has returned, made
// outside every allocator lock (creating a thread allocates: its TLS block
// comes from our own malloc). After fork the child has no such thread; the
// next slow-path call in the child starts a new one. It leaves when no
// thread of the program is bound to an arena any more (threadsLiveWord),
// so that a program whose last thread calls pthread_exit ends as it would
// without the library.

import CSwallocPlatform
import Synchronization

// The four flags below are atomics.
/// 1 once the thread should run (the option, or a second thread by default).
let backgroundWanted = Atomic<UInt32>(0)
/// 1 once the default rule (start with a second thread) no longer applies:
/// background_thread given as an option (backgroundBoot), or set through
/// mallctl.
let backgroundRuleOverridden = Atomic<UInt32>(0)
/// 0: not running, 1: starting or running.
let backgroundState = Atomic<UInt32>(0)

/// Set by the C constructor once it has returned (see lib/exports.c).
let constructorFinished = Atomic<UInt32>(0)

/// After the options: background_thread:true wants the thread from the start.
func backgroundBoot() {
  if config.opt.backgroundThread { backgroundWanted.store(1, ordering: .relaxed) }
  if config.opt.backgroundThreadSet { backgroundRuleOverridden.store(1, ordering: .relaxed) }
}

@inline(__always)
func backgroundThreadMaybeStart() {
  if backgroundWanted.load(ordering: .relaxed) == 0 {
    // The default: wanted once a second thread has bound to an arena.
    if backgroundRuleOverridden.load(ordering: .relaxed) != 0 || threadsBound.load(ordering: .relaxed) < 2 { return }
    backgroundWanted.store(1, ordering: .relaxed)
  }
  if backgroundState.load(ordering: .relaxed) != 0 { return }
  backgroundThreadStart()
}

@inline(never)
private func backgroundThreadStart() {
  if constructorFinished.load(ordering: .acquiring) == 0 { return }
  // The thread being created must not reenter here through its own malloc.
  if swalloc_tls_state() == TsdState.initializing.rawValue { return }
  if !backgroundState.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged {
    return
  }
  // The thread blocks every signal (a new thread starts with its
  // creator's mask): the kernel hands a signal sent to the process to any
  // thread that does not block it, and a program that blocks, say, SIGTERM
  // in its threads to take it with sigwait would have lost it to this one,
  // whose default action then ended the process (jemalloc's background
  // threads block them too; tests/concurrency signal_mask).
  // (A failed creation may leave its errno: the malloc or free that got
  // here must not.)
  let savedErrno = swalloc_errno()
  defer { swalloc_set_errno(savedErrno) }
  // Every bit set, as sigfillset does (glibc's pthread_sigmask leaves out
  // its own internal signals itself): one libc import less, whose symbol,
  // name and relocation took the library's first pages past 16 KiB.
  var all = sigset_t()
  var saved = sigset_t()
  _ = withUnsafeMutableBytes(of: &all) { memset($0.baseAddress.unsafelyUnwrapped, 0xff, $0.count) }
  let masked = pthread_sigmask(SIG_SETMASK, &all, &saved) == 0
  var thread = pthread_t()
  let created = pthread_create(&thread, nil, { _ in backgroundThreadMain() }, nil) == 0
  if masked { pthread_sigmask(SIG_SETMASK, &saved, nil) }
  if created {
    pthread_detach(thread)
  } else {
    backgroundState.store(0, ordering: .releasing)
  }
}

private func backgroundThreadMain() -> UnsafeMutableRawPointer? {
  // This thread never allocates, so it never gets a tcache or an arena.
  swalloc_tls_set_state(TsdState.disabled.rawValue)
  while true {
    // mallctl("background_thread", false) asks it to stop; and it leaves
    // once no thread of the program is bound to an arena: the program's
    // last thread may be on its way out through pthread_exit, and glibc
    // ends the process only when no other thread is left (arenaRelease,
    // threadsLiveWord). It starts again at the next slow path that wants
    // it.
    let live = atomicU32(&threadsLiveWord).pointee.load(ordering: .acquiring)
    if backgroundWanted.load(ordering: .relaxed) == 0 || live == 0 {
      backgroundState.store(0, ordering: .releasing)
      return nil
    }
    let decayMs = config.opt.dirtyDecayMs > 0 ? config.opt.dirtyDecayMs : 10_000
    let sleepMs = min(max(decayMs / decayEpochs, 10), 1000)
    // Ends early when the count changes (arenaRelease's wake at 0).
    swalloc_futex_wait_ms(&threadsLiveWord, live, sleepMs)
    if atomicU32(&threadsLiveWord).pointee.load(ordering: .acquiring) == 0 { continue }
    var i = 0
    while i < arenaCount { decayArena(i); i &+= 1 }
    hugeCacheExpire()
  }
}

func markConstructorFinished() {
  constructorFinished.store(1, ordering: .releasing)
}

/// In the fork child: the thread did not survive; allow a new one.
func backgroundThreadResetInChild() {
  backgroundState.store(0, ordering: .relaxed)
}

/// mallctl("background_thread"): whether the thread is wanted; writing
/// true starts it now, false lets it stop at its next wake-up (within a
/// second), and either overrides the default rule.
func backgroundThreadEnabled() -> Bool {
  backgroundWanted.load(ordering: .relaxed) != 0
}

func backgroundThreadSetEnabled(_ enabled: Bool) {
  backgroundRuleOverridden.store(1, ordering: .relaxed)
  backgroundWanted.store(enabled ? 1 : 0, ordering: .relaxed)
  if enabled { backgroundThreadMaybeStart() }
}

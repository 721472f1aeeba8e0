// Internal invariants, checked in the debug builds and compiled out of the

import CSwallocPlatform
// release library (mimalloc's mi_assert_internal, snmalloc's
// SNMALLOC_ASSERT). The debug builds are the twin's unit tests (SwiftPM's
// debug configuration defines SWALLOC_DEBUG; so do the TSan and ASan runs)
// and `scripts/build-lib.sh --debug`, which the suite runs its black-box
// checks against. `mallctl("config.debug")` says which build a process has.
//
// An invariant is a statement about the allocator's own state (a slab's
// free count matches its bitmap, a list's links agree, a lock being
// released is held); a failure is a bug in swalloc, not in the program,
// and aborts with one line naming it. Checks of what the program hands in
// (double frees, bad pointers) are not invariants: they stay in release.

/// Whether this build checks invariants.
#if SWALLOC_DEBUG
let invariantsChecked = true
#else
let invariantsChecked = false
#endif

/// Aborts naming `what` when `condition` is false, in the debug builds;
/// nothing at all in release (the condition is never evaluated).
@inline(__always)
func invariant(_ condition: @autoclosure () -> Bool, _ what: StaticString) {
#if SWALLOC_DEBUG
  if !condition() { invariantFailed(what) }
#endif
}

@inline(never)
func invariantFailed(_ what: StaticString) -> Never {
  writeStderr("swalloc: internal invariant failed: ")
  writeStderr(what)
  writeStderr("\n")
  swalloc_abort()
}

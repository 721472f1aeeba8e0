// The preload library's C layer: what Swift cannot express.
//  - a constructor that boots the allocator before main and registers the
//    fork handlers (pthread_atfork may allocate, so it runs after boot);
//  - a destructor that prints statistics at exit when asked (stats_print);
// The standard names (malloc, free, ...) are aliases of the swalloc_ entry
// points, made at link time; a version script that scripts/build-lib.sh
// generates from lib/api-names.txt exports exactly the documented API.

#define INTERNAL __attribute__((visibility("hidden")))
INTERNAL void swalloc_internal_boot(void);
INTERNAL void swalloc_internal_constructor_done(void);
INTERNAL void swalloc_internal_exit(void);
INTERNAL void swalloc_internal_prefork(void);
INTERNAL void swalloc_internal_postfork_parent(void);
INTERNAL void swalloc_internal_postfork_child(void);
// pthread_atfork is a static stub in libc_nonshared.a that calls this with
// the object's __dso_handle through the PLT; the library links no start
// files (scripts/build-lib.sh: no PLT, no _init), so it registers itself.
// The handle names the object whose dlclose would unregister the handlers:
// none here, since the library is linked with -z nodelete.
int __register_atfork(void (*)(void), void (*)(void), void (*)(void), void *);

// Local trampolines, so no Swift symbol needs a dynamic-symbol entry.
static void prefork(void) { swalloc_internal_prefork(); }
static void postfork_parent(void) { swalloc_internal_postfork_parent(); }
static void postfork_child(void) { swalloc_internal_postfork_child(); }

__attribute__((constructor(101))) static void swalloc_constructor(void) {
  swalloc_internal_boot();
  __register_atfork(prefork, postfork_parent, postfork_child, 0);
  swalloc_internal_constructor_done();
}

__attribute__((destructor(101))) static void swalloc_destructor(void) {
  swalloc_internal_exit();
}

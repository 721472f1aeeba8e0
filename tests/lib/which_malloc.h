/* --which-malloc: prints the object the process's malloc resolves into,
 * which the suites' runners use to check that LD_PRELOAD took effect. */
#ifndef SWALLOC_WHICH_MALLOC_H
#define SWALLOC_WHICH_MALLOC_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdio.h>

static void print_which_malloc(void)
{
    Dl_info di;
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    if (m && dladdr(m, &di) && di.dli_fname)
        printf("%s\n", di.dli_fname);
    else
        printf("?\n");
}

#endif

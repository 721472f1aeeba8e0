#include "swalloc_platform.h"

__thread void *swalloc_tsd_tcache
    __attribute__((tls_model("initial-exec"), visibility("hidden"))) = NULL;
__thread uint8_t swalloc_tsd_state
    __attribute__((tls_model("initial-exec"), visibility("hidden"))) = 0;

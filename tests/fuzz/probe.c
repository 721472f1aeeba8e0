/* probe.c - the smallest libFuzzer target: run-fuzz.sh links it to find a
 * clang that can build -fsanitize=fuzzer. */
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }

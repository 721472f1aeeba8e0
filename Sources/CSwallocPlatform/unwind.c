// The heap profiler's backtraces (Control/Prof.swift, ProfSampling.swift):
// a DWARF (.eh_frame) unwinder with a cache of the unwind rule of each
// return address, in front of glibc's backtrace(3).
//
// Why: backtrace(3) is libgcc's _Unwind_Backtrace, which for every frame of
// every sample finds the FDE (_Unwind_Find_FDE, _dl_find_object), parses
// its CIE (strlen of the augmentation string included) and runs both CFA
// programs from the function's start: about 0.2 us a frame, 2 us for the
// 10 frames of a small program's sample, most of a sample's cost (perf on
// bench aligned with prof:true: libgcc, ld.so and libc's backtrace_helper
// took 60% of the time profiling added). The same call sites come back
// sample after sample, so the rule found for a return address (how to get
// the caller's CFA, return address and frame pointer) is kept here, and a
// frame whose rule is cached costs a table probe and two loads.
//
// The same rules as libgcc's, found the same way (_Unwind_Find_FDE, then
// the CIE's and FDE's instructions up to the return address), kept only
// when they are of the plain kind compiled code uses on x86-64: CFA = rsp
// or rbp + offset, return address and rbp saved at CFA + offset (or rbp
// untouched), nothing else about rsp. Anything else (a signal frame, a
// DWARF expression, a frame without an FDE, which may be the sigreturn
// trampoline, 64-bit DWARF, a CFA in another register) sends the whole
// backtrace to backtrace(3), so its result is libgcc's in every case
// (tests/prof/unwind_check.c compares the two on frames of every kind).
//
// The table is global, a direct-mapped cache of 4096 entries, each behind
// a sequence word (a reader that sees a write in progress treats it as a
// miss; a writer that finds another writer there does not store). A rule
// is only valid while the code it describes is mapped: keys carry the
// loader's count of objects removed (dl_iterate_phdr's dlpi_subs, read
// once per backtrace), so after a dlclose every older entry misses.
//
// Nothing here allocates: the table is base memory given by the profiler,
// _Unwind_Find_FDE and dl_iterate_phdr do not allocate, and the
// dlopen/dlsym of libgcc_s is done once from the constructor with the
// profiler's busy flag set (profPrime).

#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <execinfo.h>
#include <link.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include "swalloc_platform.h"

#if defined(__x86_64__) && defined(__linux__)

// libgcc's struct dwarf_eh_bases and _Unwind_Find_FDE (exported by
// libgcc_s.so.1 since GCC 3.0).
struct sw_eh_bases { void *tbase; void *dbase; void *func; };
typedef const void *(*sw_find_fde_fn)(void *pc, struct sw_eh_bases *bases);

// DWARF register numbers (x86-64 psABI).
enum { SW_RBP = 6, SW_RSP = 7, SW_RA = 16 };

// A cached rule. flags:
#define SW_RULE_CFA_RBP 1u    // CFA = rbp + cfa_off (else rsp + cfa_off)
#define SW_RULE_RBP_SAVED 2u  // the caller's rbp is at CFA + rbp_off (else rbp unchanged)
#define SW_RULE_END 4u        // no return address: the outermost frame
#define SW_RULE_FALLBACK 8u   // only libgcc can unwind this frame
struct sw_rule { int64_t cfa_off; int32_t rbp_off; int16_t ra_off; uint16_t flags; };

struct sw_entry {
  _Atomic uint64_t seq;    // odd while written
  _Atomic uint64_t key;    // return address | generation << 48
  _Atomic uint64_t lo;     // cfa_off
  _Atomic uint64_t hi;     // flags | ra_off << 16 | rbp_off << 32
};
_Static_assert(sizeof(struct sw_entry) == 32, "entry size");

static sw_find_fde_fn sw_find_fde;
static struct sw_entry *sw_table;
static uint64_t sw_mask;

// The frame registers an unwind needs, captured by swalloc_unwind_regs: the
// return address into its caller, the caller's rsp after the call
// returns, and rbp (callee-saved: the caller's own).
struct sw_regs { uintptr_t ip, sp, bp; };
void swalloc_unwind_regs(struct sw_regs *out);
__asm__(
  "  .text\n"
  "  .p2align 4\n"
  "  .globl swalloc_unwind_regs\n"
  "  .hidden swalloc_unwind_regs\n"
  "  .type swalloc_unwind_regs,@function\n"
  "swalloc_unwind_regs:\n"
  "  .cfi_startproc\n"
  "  movq (%rsp), %rax\n"
  "  movq %rax, 0(%rdi)\n"
  "  leaq 8(%rsp), %rax\n"
  "  movq %rax, 8(%rdi)\n"
  "  movq %rbp, 16(%rdi)\n"
  "  ret\n"
  "  .cfi_endproc\n"
  "  .size swalloc_unwind_regs, .-swalloc_unwind_regs\n");

static uint64_t sw_uleb(const uint8_t **p, const uint8_t *end, int *bad) {
  uint64_t v = 0;
  unsigned shift = 0;
  while (*p < end) {
    uint8_t b = *(*p)++;
    if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
    shift += 7;
    if (!(b & 0x80)) return v;
  }
  *bad = 1;
  return 0;
}

static int64_t sw_sleb(const uint8_t **p, const uint8_t *end, int *bad) {
  int64_t v = 0;
  unsigned shift = 0;
  while (*p < end) {
    uint8_t b = *(*p)++;
    if (shift < 64) v |= (int64_t)((uint64_t)(b & 0x7f) << shift);
    shift += 7;
    if (!(b & 0x80)) {
      if (shift < 64 && (b & 0x40)) v |= -((int64_t)1 << shift);
      return v;
    }
  }
  *bad = 1;
  return 0;
}

// Bytes of a pointer in DWARF EH encoding `enc` (its format nibble); 0 for
// the variable-length ones (handled by the callers) and unknown ones.
static size_t sw_enc_size(uint8_t enc) {
  switch (enc & 0x0f) {
  case 0x00: return 8;   // absptr
  case 0x02: case 0x0a: return 2;
  case 0x03: case 0x0b: return 4;
  case 0x04: case 0x0c: return 8;
  default: return 0;
  }
}

// Skips one encoded pointer; 0 when it cannot be skipped.
static int sw_skip_encoded(const uint8_t **p, const uint8_t *end, uint8_t enc) {
  if (enc == 0xff) return 1;                 // omitted
  if ((enc & 0x70) == 0x50) return 0;        // aligned: not in compiled code
  if ((enc & 0x0f) == 0x01 || (enc & 0x0f) == 0x09) {
    int bad = 0;
    (void)sw_uleb(p, end, &bad);
    return !bad;
  }
  size_t n = sw_enc_size(enc);
  if (n == 0 || (size_t)(end - *p) < n) return 0;
  *p += n;
  return 1;
}

// The register rules the unwinder follows; any other register's rule is
// irrelevant to it, except rsp's (then libgcc unwinds).
enum { SW_SAME = 0, SW_UNDEF, SW_OFFSET, SW_OTHER };
struct sw_state {
  uint64_t cfa_reg;
  int64_t cfa_off;
  uint8_t rbp_how, ra_how, rsp_how;
  int64_t rbp_off, ra_off;
};

static void sw_set_rule(struct sw_state *s, uint64_t reg, uint8_t how, int64_t off) {
  if (reg == SW_RBP) { s->rbp_how = how; s->rbp_off = off; }
  else if (reg == SW_RA) { s->ra_how = how; s->ra_off = off; }
  else if (reg == SW_RSP) { s->rsp_how = how == SW_SAME ? SW_SAME : SW_OTHER; }
}

static void sw_restore_rule(struct sw_state *s, const struct sw_state *initial, uint64_t reg) {
  if (reg == SW_RBP) { s->rbp_how = initial->rbp_how; s->rbp_off = initial->rbp_off; }
  else if (reg == SW_RA) { s->ra_how = initial->ra_how; s->ra_off = initial->ra_off; }
  else if (reg == SW_RSP) { s->rsp_how = initial->rsp_how; }
}

// Runs a CFA program (as libgcc's execute_cfa_program: instructions
// at locations below `ip`, the return address, apply). 0: an instruction
// the cache does not model.
static int sw_run(const uint8_t *p, const uint8_t *end, uintptr_t loc, uintptr_t ip,
                  uint64_t code_align, int64_t data_align,
                  struct sw_state *s, const struct sw_state *initial) {
  struct sw_state saved[8];
  int depth = 0;
  int bad = 0;
  while (p < end && loc < ip) {
    uint8_t op = *p++;
    uint64_t reg, a;
    int64_t off;
    switch (op & 0xc0) {
    case 0x40:   // advance_loc
      loc += (op & 0x3f) * code_align;
      continue;
    case 0x80:   // offset
      a = sw_uleb(&p, end, &bad);
      sw_set_rule(s, op & 0x3f, SW_OFFSET, (int64_t)a * data_align);
      continue;
    case 0xc0:   // restore
      if (!initial) return 0;
      sw_restore_rule(s, initial, op & 0x3f);
      continue;
    }
    switch (op) {
    case 0x00: break;                                   // nop
    case 0x02: if (end - p < 1) return 0; loc += p[0] * code_align; p += 1; break;
    case 0x03: {
      uint16_t d; if (end - p < 2) return 0; memcpy(&d, p, 2); p += 2; loc += d * code_align; break;
    }
    case 0x04: {
      uint32_t d; if (end - p < 4) return 0; memcpy(&d, p, 4); p += 4; loc += d * code_align; break;
    }
    case 0x05:   // offset_extended
      reg = sw_uleb(&p, end, &bad); a = sw_uleb(&p, end, &bad);
      sw_set_rule(s, reg, SW_OFFSET, (int64_t)a * data_align);
      break;
    case 0x06:   // restore_extended
      reg = sw_uleb(&p, end, &bad);
      if (!initial) return 0;
      sw_restore_rule(s, initial, reg);
      break;
    case 0x07:   // undefined
      reg = sw_uleb(&p, end, &bad);
      sw_set_rule(s, reg, SW_UNDEF, 0);
      break;
    case 0x08:   // same_value
      reg = sw_uleb(&p, end, &bad);
      sw_set_rule(s, reg, SW_SAME, 0);
      break;
    case 0x09:   // register
      reg = sw_uleb(&p, end, &bad); (void)sw_uleb(&p, end, &bad);
      sw_set_rule(s, reg, SW_OTHER, 0);
      break;
    case 0x0a:   // remember_state
      if (depth == 8) return 0;
      saved[depth++] = *s;
      break;
    case 0x0b:   // restore_state (the CFA is restored too, as libgcc does)
      if (depth == 0) return 0;
      *s = saved[--depth];
      break;
    case 0x0c:   // def_cfa
      s->cfa_reg = sw_uleb(&p, end, &bad);
      s->cfa_off = (int64_t)sw_uleb(&p, end, &bad);
      break;
    case 0x0d:   // def_cfa_register
      s->cfa_reg = sw_uleb(&p, end, &bad);
      break;
    case 0x0e:   // def_cfa_offset
      s->cfa_off = (int64_t)sw_uleb(&p, end, &bad);
      break;
    case 0x10:   // expression
    case 0x16:   // val_expression
      reg = sw_uleb(&p, end, &bad); a = sw_uleb(&p, end, &bad);
      if (bad || a > (uint64_t)(end - p)) return 0;
      p += a;
      sw_set_rule(s, reg, SW_OTHER, 0);
      break;
    case 0x11:   // offset_extended_sf
      reg = sw_uleb(&p, end, &bad); off = sw_sleb(&p, end, &bad);
      sw_set_rule(s, reg, SW_OFFSET, off * data_align);
      break;
    case 0x12:   // def_cfa_sf
      s->cfa_reg = sw_uleb(&p, end, &bad);
      s->cfa_off = sw_sleb(&p, end, &bad) * data_align;
      break;
    case 0x13:   // def_cfa_offset_sf
      s->cfa_off = sw_sleb(&p, end, &bad) * data_align;
      break;
    case 0x14:   // val_offset
      reg = sw_uleb(&p, end, &bad); (void)sw_uleb(&p, end, &bad);
      sw_set_rule(s, reg, SW_OTHER, 0);
      break;
    case 0x15:   // val_offset_sf
      reg = sw_uleb(&p, end, &bad); (void)sw_sleb(&p, end, &bad);
      sw_set_rule(s, reg, SW_OTHER, 0);
      break;
    case 0x2e:   // GNU_args_size: for landing pads only
      (void)sw_uleb(&p, end, &bad);
      break;
    case 0x2f:   // GNU_negative_offset_extended
      reg = sw_uleb(&p, end, &bad); a = sw_uleb(&p, end, &bad);
      sw_set_rule(s, reg, SW_OFFSET, -(int64_t)a * data_align);
      break;
    default:     // set_loc, def_cfa_expression, vendor extensions
      return 0;
    }
    if (bad) return 0;
  }
  return !bad;
}

// The rule for the frame whose return address is `ip`, as libgcc's
// uw_frame_state_for finds it; SW_RULE_FALLBACK for what the cache does
// not model.
static struct sw_rule sw_compute_rule(uintptr_t ip) {
  struct sw_rule fallback = {0, 0, 0, SW_RULE_FALLBACK};
  struct sw_eh_bases bases;
  const uint8_t *fde = sw_find_fde((void *)(ip - 1), &bases);
  if (!fde) {
    // libgcc's x86-64 Linux fallback (MD_FALLBACK_FRAME_STATE_FOR) reads
    // the code at the return address: `mov $15, %rax; syscall` is the
    // signal trampoline, which it unwinds through; anything else ends
    // the stack there, this frame included.
    uint64_t code;
    memcpy(&code, (const void *)(ip + 1), 8);
    if (*(const uint8_t *)ip == 0x48 && code == 0x050f0000000fc0c7ull) return fallback;
    struct sw_rule end = {0, 0, 0, SW_RULE_END};
    return end;
  }
  uint32_t len, cie_id;
  memcpy(&len, fde, 4);
  if (len == 0 || len == 0xffffffffu) return fallback;
  const uint8_t *fde_end = fde + 4 + len;
  memcpy(&cie_id, fde + 4, 4);
  const uint8_t *cie = fde + 4 - cie_id;
  memcpy(&len, cie, 4);
  if (len == 0 || len == 0xffffffffu) return fallback;
  const uint8_t *cie_end = cie + 4 + len;
  const uint8_t *p = cie + 8;
  uint8_t version = *p++;
  if (version != 1 && version != 3) return fallback;
  const char *aug = (const char *)p;
  size_t aug_len = strnlen(aug, (size_t)(cie_end - p));
  if ((size_t)(cie_end - p) <= aug_len) return fallback;
  p += aug_len + 1;
  int bad = 0;
  uint64_t code_align = sw_uleb(&p, cie_end, &bad);
  int64_t data_align = sw_sleb(&p, cie_end, &bad);
  uint64_t ra_reg = version == 1 ? (p < cie_end ? *p++ : (bad = 1, 0)) : sw_uleb(&p, cie_end, &bad);
  if (bad || ra_reg != SW_RA) return fallback;
  uint8_t fde_enc = 0;   // absptr
  int has_z = aug[0] == 'z';
  if (has_z) {
    uint64_t n = sw_uleb(&p, cie_end, &bad);
    if (bad || n > (uint64_t)(cie_end - p)) return fallback;
    const uint8_t *data_end = p + n;
    const uint8_t *q = p;
    for (const char *c = aug + 1; *c; c++) {
      if (*c == 'R') {
        if (q >= data_end) return fallback;
        fde_enc = *q++;
      } else if (*c == 'P') {
        if (q >= data_end) return fallback;
        uint8_t enc = *q++;
        if (!sw_skip_encoded(&q, data_end, enc)) return fallback;
      } else if (*c == 'L') {
        if (q >= data_end) return fallback;
        q++;
      } else {
        return fallback;   // 'S' (a signal frame) or unknown
      }
    }
    p = data_end;
  } else if (aug[0] != 0) {
    return fallback;
  }
  const uint8_t *cie_insns = p;
  // The FDE: its address range (skipped: _Unwind_Find_FDE chose it and
  // gave the function's start), augmentation data, instructions.
  p = fde + 8;
  size_t ptr = sw_enc_size(fde_enc);
  if (ptr == 0 || (size_t)(fde_end - p) < 2 * ptr) return fallback;
  p += 2 * ptr;
  if (has_z) {
    uint64_t n = sw_uleb(&p, fde_end, &bad);
    if (bad || n > (uint64_t)(fde_end - p)) return fallback;
    p += n;
  }
  struct sw_state s = {0, 0, SW_SAME, SW_UNDEF, SW_SAME, 0, 0};
  s.cfa_reg = ~(uint64_t)0;
  uintptr_t func = (uintptr_t)bases.func;
  if (!sw_run(cie_insns, cie_end, func, UINTPTR_MAX, code_align, data_align, &s, NULL)) return fallback;
  struct sw_state initial = s;
  if (!sw_run(p, fde_end, func, ip, code_align, data_align, &s, &initial)) return fallback;

  struct sw_rule r = {s.cfa_off, 0, 0, 0};
  if (s.cfa_reg == SW_RBP) r.flags |= SW_RULE_CFA_RBP;
  else if (s.cfa_reg != SW_RSP) return fallback;
  if (s.rsp_how != SW_SAME) return fallback;
  if (s.ra_how == SW_UNDEF) { r.flags |= SW_RULE_END; return r; }
  if (s.ra_how != SW_OFFSET || s.ra_off != (int16_t)s.ra_off) return fallback;
  r.ra_off = (int16_t)s.ra_off;
  if (s.rbp_how == SW_OFFSET) {
    if (s.rbp_off != (int32_t)s.rbp_off) return fallback;
    r.flags |= SW_RULE_RBP_SAVED;
    r.rbp_off = (int32_t)s.rbp_off;
  } else if (s.rbp_how != SW_SAME && s.rbp_how != SW_UNDEF) {   // libgcc keeps an undefined one too
    return fallback;
  }
  return r;
}

static uint64_t sw_slot(uintptr_t ip) {
  return ((ip * 0x9E3779B97F4A7C15ull) >> 40) & sw_mask;
}

static int sw_lookup(uint64_t key, struct sw_rule *r) {
  struct sw_entry *e = &sw_table[sw_slot(key & 0xffffffffffffull)];
  uint64_t s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
  if (s1 & 1) return 0;
  uint64_t k = atomic_load_explicit(&e->key, memory_order_relaxed);
  uint64_t lo = atomic_load_explicit(&e->lo, memory_order_relaxed);
  uint64_t hi = atomic_load_explicit(&e->hi, memory_order_relaxed);
  atomic_thread_fence(memory_order_acquire);
  if (atomic_load_explicit(&e->seq, memory_order_relaxed) != s1 || k != key) return 0;
  r->cfa_off = (int64_t)lo;
  r->flags = (uint16_t)hi;
  r->ra_off = (int16_t)(hi >> 16);
  r->rbp_off = (int32_t)(hi >> 32);
  return 1;
}

static void sw_store(uint64_t key, const struct sw_rule *r) {
  struct sw_entry *e = &sw_table[sw_slot(key & 0xffffffffffffull)];
  uint64_t s = atomic_load_explicit(&e->seq, memory_order_relaxed);
  if ((s & 1) || !atomic_compare_exchange_strong_explicit(&e->seq, &s, s + 1, memory_order_acquire,
                                                          memory_order_relaxed))
    return;   // another thread is writing it
  atomic_thread_fence(memory_order_release);
  atomic_store_explicit(&e->key, key, memory_order_relaxed);
  atomic_store_explicit(&e->lo, (uint64_t)r->cfa_off, memory_order_relaxed);
  uint64_t hi = (uint64_t)r->flags | (uint64_t)(uint16_t)r->ra_off << 16 | (uint64_t)(uint32_t)r->rbp_off << 32;
  atomic_store_explicit(&e->hi, hi, memory_order_relaxed);
  atomic_store_explicit(&e->seq, s + 2, memory_order_release);
}

static int sw_subs_callback(struct dl_phdr_info *info, size_t size, void *data) {
  if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs))
    *(uint64_t *)data = (uint64_t)info->dlpi_subs;
  return 1;   // the first object is enough
}

// The cached walk: the frame count, or -1 when a frame needs libgcc.
__attribute__((noinline))
static int sw_unwind(void **buffer, int size) {
  uint64_t subs = 0;
  dl_iterate_phdr(sw_subs_callback, &subs);
  uint64_t generation = ((subs + 1) & 0xffff) << 48;
  struct sw_regs regs;
  swalloc_unwind_regs(&regs);
  uintptr_t ip = regs.ip, sp = regs.sp, bp = regs.bp;
  int n = 0;
  while (n < size && ip != 0) {
    buffer[n++] = (void *)ip;
    if (ip >> 48) return -1;
    uint64_t key = (uint64_t)ip | generation;
    struct sw_rule r;
    if (!sw_lookup(key, &r)) {
      r = sw_compute_rule(ip);
      sw_store(key, &r);
    }
    if (r.flags & SW_RULE_FALLBACK) return -1;
    if (r.flags & SW_RULE_END) break;
    uintptr_t cfa = ((r.flags & SW_RULE_CFA_RBP) ? bp : sp) + (uintptr_t)r.cfa_off;
    // The stack grows down: a caller's CFA is above its callee's. A frame
    // that says otherwise, or spans more than 16 MiB, is left to libgcc.
    if (cfa <= sp || cfa - sp > ((uintptr_t)1 << 24)) return -1;
    uintptr_t next_ip;
    memcpy(&next_ip, (const void *)(cfa + (intptr_t)r.ra_off), 8);
    if (r.flags & SW_RULE_RBP_SAVED) memcpy(&bp, (const void *)(cfa + (intptr_t)r.rbp_off), 8);
    sp = cfa;
    ip = next_ip;
  }
  return n;
}

__attribute__((visibility("hidden")))
void swalloc_unwind_init(void *table, size_t bytes) {
  if (sw_table || !table || bytes < sizeof(struct sw_entry)) return;
  // glibc's backtrace(3) has loaded libgcc_s (profPrime called it).
  void *libgcc = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (!libgcc) return;
  sw_find_fde_fn find = (sw_find_fde_fn)dlsym(libgcc, "_Unwind_Find_FDE");
  if (!find) return;
  size_t entries = 1;
  while (entries * 2 * sizeof(struct sw_entry) <= bytes) entries *= 2;
  sw_mask = entries - 1;
  sw_find_fde = find;
  sw_table = table;   // zeroed base memory: every key 0, no return address
}

#ifdef SWALLOC_UNWIND_VERIFY
// The debug library (scripts/build-lib.sh --debug) checks every cached
// walk against backtrace(3) and aborts on a difference. The first two
// frames are return addresses inside swalloc_backtrace and its callees,
// different in the two walks: the rest must be equal.
__attribute__((noinline))
static void sw_verify(void **fast, int n, int size) {
  void *slow[SWALLOC_PROF_CAPTURE];
  if (size > SWALLOC_PROF_CAPTURE || n >= size) return;   // a truncated walk: not compared
  int m = backtrace(slow, size);
  if (m >= size) return;
  if (n != m || m < 2 || memcmp(fast + 2, slow + 2, sizeof(void *) * (size_t)(m - 2)) != 0) {
    static const char message[] = "swalloc: internal invariant failed: the cached unwinder and backtrace(3) differ\n";
    (void)!write(2, message, sizeof message - 1);
    abort();
  }
}
#endif

__attribute__((visibility("hidden")))
int swalloc_backtrace(void **buffer, int size) {
  if (sw_table) {
    int n = sw_unwind(buffer, size);
#ifdef SWALLOC_UNWIND_VERIFY
    if (n >= 0) sw_verify(buffer, n, size);
#endif
    if (n >= 0) return n;
  }
  return backtrace(buffer, size);
}

#else

__attribute__((visibility("hidden")))
void swalloc_unwind_init(void *table, size_t bytes) { (void)table; (void)bytes; }

__attribute__((visibility("hidden")))
int swalloc_backtrace(void **buffer, int size) { return backtrace(buffer, size); }

#endif

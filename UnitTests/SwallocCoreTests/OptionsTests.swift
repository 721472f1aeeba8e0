import XCTest
@testable import SwallocCore

/// The jemalloc-only options (Options.swift): matched by the hash of their
/// names, so every name is checked here against the value rule it must get,
/// and keys one character off against none.
final class OptionsTests: XCTestCase {
  /// jemalloc 5.3's options that swalloc reads without acting on them, and
  /// how each value is read (JemallocOnlyValue).
  private let names: [(String, JemallocOnlyValue)] = [
    ("retain", .bool), ("dss", .dss), ("percpu_arena", .percpuArena), ("oversize_threshold", .unsigned),
    ("metadata_thp", .metadataThp), ("mutex_max_spin", .signed), ("lg_extent_max_active_fit", .unsigned),
    ("hpa", .bool), ("hpa_slab_max_alloc", .unsigned), ("hpa_hugification_threshold", .unsigned),
    ("hpa_hugify_delay_ms", .signed), ("hpa_min_purge_interval_ms", .signed), ("hpa_dirty_mult", .fraction),
    ("hpa_sec_nshards", .unsigned), ("hpa_sec_max_alloc", .unsigned), ("hpa_sec_max_bytes", .unsigned),
    ("hpa_sec_bytes_after_flush", .unsigned), ("hpa_sec_batch_fill_extra", .unsigned),
    ("tcache_nslots_small_min", .unsigned), ("tcache_nslots_small_max", .unsigned),
    ("tcache_nslots_large", .unsigned), ("lg_tcache_nslots_mul", .signed), ("tcache_gc_incr_bytes", .unsigned),
    ("tcache_gc_delay_bytes", .unsigned), ("lg_tcache_flush_small_div", .unsigned),
    ("lg_tcache_flush_large_div", .unsigned), ("prof_accum", .bool), ("stats_interval_opts", .text),
    ("stats_interval", .negativeOnly),
    ("prof_thread_active_init", .trueOnly), ("prof_leak_error", .falseOnly),
    ("experimental_infallible_new", .falseOnly),
  ]

  private func kind(_ key: String) -> JemallocOnlyValue? {
    key.withCString { jemallocOnlyOption($0, key.utf8.count) }
  }

  private func accepts(_ kind: JemallocOnlyValue, _ value: String) -> Bool? {
    value.withCString { kind.accepts($0, value.utf8.count) }
  }

  func testEveryNameHasItsRule() {
    for (name, expected) in names {
      XCTAssertEqual(kind(name), expected, name)
    }
  }

  func testOtherKeysMatchNothing() {
    for (name, _) in names {
      // One character dropped, added, or changed; the name's prefix.
      XCTAssertNil(kind(String(name.dropLast())), name)
      XCTAssertNil(kind(name + "s"), name)
      XCTAssertNil(kind("x" + name.dropFirst()), name)
      XCTAssertNil(kind(name.uppercased()), name)
    }
    // The options swalloc acts on are OptionName's, not these; jemalloc 4's
    // are unknown to both.
    for key in ["narenas", "tcache_max", "lg_tcache_max", "zero_realloc", "confirm_conf", "abort", "lg_prof_interval", "lg_chunk",
                "lg_dirty_mult", "decay_time", "purge", "cache_oblivious", "xmalloc", "utrace", ""] {
      XCTAssertNil(kind(key), key)
    }
  }

  func testValuesAreReadAsJemallocReadsThem() {
    XCTAssertEqual(accepts(.bool, "true"), true)
    XCTAssertNil(accepts(.bool, "yes"))
    XCTAssertEqual(accepts(.unsigned, "65536"), true)
    XCTAssertNil(accepts(.unsigned, "-1"))
    XCTAssertEqual(accepts(.signed, "-1"), true)
    XCTAssertEqual(accepts(.fraction, "0.25"), true)
    XCTAssertEqual(accepts(.fraction, "-1"), true)
    XCTAssertNil(accepts(.fraction, "0.2.5"))
    XCTAssertNil(accepts(.fraction, ""))
    XCTAssertNil(accepts(.fraction, "."))
    XCTAssertEqual(accepts(.fraction, "1."), true)
    // The name-valued ones (matched by hash): each name for its option only.
    for (kind, good) in [(JemallocOnlyValue.dss, ["disabled", "primary", "secondary"]),
                         (.percpuArena, ["disabled", "percpu", "phycpu"]),
                         (.metadataThp, ["disabled", "auto", "always"])] {
      for value in ["disabled", "primary", "secondary", "percpu", "phycpu", "auto", "always"] {
        XCTAssertEqual(accepts(kind, value), good.contains(value) ? true : nil, "\(kind) \(value)")
      }
      for value in ["", "never", "sbrk", "Disabled", "disable", "percpus"] {
        XCTAssertNil(accepts(kind, value), "\(kind) \(value)")
      }
    }
    // A feature swalloc lacks: only the value that leaves it off.
    XCTAssertEqual(accepts(.negativeOnly, "-1"), true)
    XCTAssertEqual(accepts(.negativeOnly, "30"), false)
    XCTAssertEqual(accepts(.trueOnly, "true"), true)
    XCTAssertEqual(accepts(.trueOnly, "false"), false)
    XCTAssertEqual(accepts(.falseOnly, "false"), true)
    XCTAssertEqual(accepts(.falseOnly, "true"), false)
  }
}

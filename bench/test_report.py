#!/usr/bin/env python3
"""Checks of bench/report.py (no benchmark is run): a regenerated
BENCHMARKS.md keeps every section between markers, whatever its name, and
the loaded run's section goes in without disturbing them; the goals
table's verdicts follow the issues' limits.

    python3 bench/test_report.py     (scripts/test.sh runs it)
"""

import os
import re
import sys
import tempfile
import types
import unittest

sys.dont_write_bytecode = True  # no bench/__pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import report  # noqa: E402
from measure import Result  # noqa: E402

OPENING = re.compile(r"^<!-- ([a-z0-9-]+) -->$", flags=re.M)


def section(tag, body):
    return f"<!-- {tag} -->\n## {tag}\n\n{body}\n<!-- /{tag} -->"


class ReportFileTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "BENCHMARKS.md")

    def tearDown(self):
        self.dir.cleanup()

    def write(self, text):
        with open(self.path, "w") as f:
            f.write(text)

    def read(self):
        with open(self.path) as f:
            return f.read()

    def test_a_regenerated_report_keeps_every_marked_section_in_order(self):
        kept = [section("loaded", "loaded table"), section("peers-by-hand", "by hand"),
                section("a-section-added-later", "new table")]
        self.write("# old generated part\n\nold numbers\n\n" + "\n\n".join(kept) + "\n")
        report.write_full(self.path, ["# swalloc benchmarks", "", "new numbers", ""])
        text = self.read()
        self.assertTrue(text.startswith("# swalloc benchmarks\n\nnew numbers"))
        self.assertNotIn("old numbers", text)
        positions = [text.find(s) for s in kept]
        self.assertNotIn(-1, positions, "a marked section was dropped")
        self.assertEqual(positions, sorted(positions), "the sections keep their order")

    def test_the_loaded_section_goes_before_the_first_marked_section(self):
        self.write("# t\n\ngenerated\n\n" + section("scaling", "table") + "\n")
        report.write_loaded(self.path, section("loaded", "first").split("\n"))
        text = self.read()
        self.assertLess(text.find("<!-- loaded -->"), text.find("<!-- scaling -->"))
        report.write_loaded(self.path, section("loaded", "second").split("\n"))
        text = self.read()
        self.assertIn("second", text)
        self.assertNotIn("first", text)
        self.assertEqual(text.count("<!-- loaded -->"), 1)
        self.assertIn(section("scaling", "table"), text)

    def test_every_section_of_the_committed_file_would_be_kept(self):
        with open(os.path.join(os.path.dirname(HERE), "BENCHMARKS.md")) as f:
            text = f.read()
        tags = OPENING.findall(text)
        self.assertTrue(tags, "BENCHMARKS.md has marked sections")
        kept = report.kept_sections(text)
        self.assertEqual([OPENING.match(k).group(1) for k in kept], tags)


class GoalTests(unittest.TestCase):
    """report.goals on made-up medians: each goal's verdict follows its
    limit (the issues' figures, report.GOAL_*)."""

    def goals(self, table):
        # table: workload -> {allocator: (seconds, peak RSS KiB)}
        allocators = ["glibc", "swalloc", "jemalloc", "mimalloc", "tcmalloc"]
        results = {}
        for w, row in table.items():
            for a in allocators:
                r = Result()
                t, rss = row[a]
                r.times, r.rss, r.cpu = [t], [rss], [t]
                results[(w, a)] = r
        workloads = [types.SimpleNamespace(name=w) for w in table]
        A = report.analyse(workloads, allocators, results)
        return {g.split(" (")[0]: (m, v) for g, m, v in report.goals(A, allocators, results)}

    def test_a_workload_over_the_best_peer_limit_misses_that_goal_only(self):
        row = lambda s: {"glibc": (1.0, 100), "swalloc": (s, 90), "jemalloc": (0.9, 200),
                         "mimalloc": (0.8, 110), "tcmalloc": (0.7, 300)}
        G = self.goals({"a": row(0.40), "b": row(0.40), "c": row(0.80)})
        worst = [v for g, v in G.items() if g.startswith("no workload")][0]
        self.assertEqual(worst[1], "MISSED")
        self.assertIn("c 1.14x tcmalloc", worst[0])
        rss = [v for g, v in G.items() if g.startswith("geomean peak RSS <= 1 x glibc")][0]
        self.assertEqual(rss, ("swalloc/glibc = 0.90 over 3 workloads", "met"))
        best = [v for g, v in G.items() if g.startswith("geomean time <= 0.85 x the best peer")][0]
        # (0.4/0.7)^2 * (0.8/0.7) over three workloads: 0.72
        self.assertEqual(best, ("swalloc/tcmalloc = 0.72 over 3 workloads", "met"))

    def test_peak_rss_above_glibc_misses_and_within_the_limit_is_met(self):
        row = lambda rss: {"glibc": (1.0, 100), "swalloc": (0.5, rss), "jemalloc": (0.9, 200),
                           "mimalloc": (0.8, 110), "tcmalloc": (0.7, 300)}
        G = self.goals({"a": row(101), "b": row(100)})
        rss = [v for g, v in G.items() if g.startswith("geomean peak RSS <= 1 x glibc")][0]
        self.assertEqual(rss[1], "MISSED")
        worst = [v for g, v in G.items() if g.startswith("no workload")][0]
        self.assertEqual(worst[1], "met")
        G = self.goals({"a": row(100), "b": row(99)})
        rss = [v for g, v in G.items() if g.startswith("geomean peak RSS <= 1 x glibc")][0]
        self.assertEqual(rss[1], "met")


class PairedRatioTests(unittest.TestCase):
    """The time table's *paired* column: the median of the per-repetition
    ratios, which a slow period of the host that falls on different
    repetitions of the two allocators does not move."""

    def test_a_slow_period_on_different_repetitions_cancels_out(self):
        allocators = ["swalloc", "jemalloc", "mimalloc", "tcmalloc"]
        # Repetition by repetition; swalloc's second and third runs fell
        # in a slow period (x3) with jemalloc's third only.
        times = {"swalloc": [1.0, 3.0, 3.0], "jemalloc": [1.1, 1.1, 3.3],
                 "mimalloc": [2.0, 2.0, 2.0], "tcmalloc": [2.0, 2.0, 2.0]}
        results = {}
        for a in allocators:
            r = Result()
            r.times, r.rss, r.cpu = times[a], [100] * 3, times[a]
            results[("w", a)] = r
        A = report.analyse([types.SimpleNamespace(name="w")], allocators, results)
        self.assertEqual(A["rows"]["w"]["time_best"], "jemalloc")
        self.assertAlmostEqual(A["ratio"]("w", "swalloc", "jemalloc", "time"), 3.0 / 1.1)
        self.assertAlmostEqual(A["paired"]("w", "swalloc", "jemalloc"), 1.0 / 1.1)
        table = "\n".join(report.md_tables(A, allocators, results))
        self.assertIn("| swalloc / best peer | paired | spread |", table)
        self.assertIn("| 2.73 (jemalloc) | 0.91 |", table)
        # Not comparable when one of them lost a repetition.
        results[("w", "jemalloc")].times = [1.1, 1.1]
        self.assertIsNone(A["paired"]("w", "swalloc", "jemalloc"))


if __name__ == "__main__":
    unittest.main()

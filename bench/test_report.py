#!/usr/bin/env python3
"""Checks of bench/report.py's file handling (no benchmark is run): a
regenerated BENCHMARKS.md keeps every section between markers, whatever
its name, and the loaded run's section goes in without disturbing them.

    python3 bench/test_report.py     (scripts/test.sh runs it)
"""

import os
import re
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True  # no bench/__pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import report  # noqa: E402

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


if __name__ == "__main__":
    unittest.main()

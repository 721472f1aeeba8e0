#!/usr/bin/env python3
"""check-layers.py - the core's layer order, enforced.

Sources/SwallocCore/<Layer>/ folders hold the allocator's files; the order
of the layers, lowest first, is the list in Sources/SwallocCore/LAYERS (one
folder name per line; names on one line separated by spaces share a
level). A file may use what its own level and the levels below define,
never what a level above defines. This script collects the top-level names
each file declares (func, var, let, struct, enum, class, typealias;
file-private ones excluded), then reports every identifier a file uses that
is defined only above its level. Extension members (`e.end`, `.bitmap`)
are not tracked.

usage: scripts/check-layers.py [ROOT]    exit 1 on a violation
"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
core = os.path.join(root, "Sources", "SwallocCore")
levels = []
with open(os.path.join(core, "LAYERS")) as f:
    for line in f:
        line = line.split("#", 1)[0].strip()
        if line:
            levels.append(line.split())
level_of = {name: i for i, names in enumerate(levels) for name in names}

decl = re.compile(r"^(?:@[\w]+(?:\([^)]*\))?\s+)*(?:(public|private|fileprivate|internal)\s+)?"
                  r"(?:@[\w]+(?:\([^)]*\))?\s+)*(?:(?:static|final|mutating|nonisolated\(unsafe\))\s+)*"
                  r"(func|var|let|struct|enum|class|typealias|protocol)\s+([A-Za-z_]\w*)")
# A name after "." is a member (an enum case, a field), never a top-level name.
ident = re.compile(r"(?<![.\w])[A-Za-z_]\w*")


def strip(text):
    """Removes comments and string literals (keeps line structure)."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(?:\\.|[^"\\\n])*"', '""', text)
    return text


files = {}   # path -> (level, text)
errors = []
for folder in sorted(os.listdir(core)):
    path = os.path.join(core, folder)
    if not os.path.isdir(path):
        continue
    if folder not in level_of:
        errors.append(f"{folder}/: not a layer named in LAYERS")
        continue
    for dirpath, _, names in os.walk(path):
        for name in sorted(names):
            if name.endswith(".swift"):
                p = os.path.join(dirpath, name)
                with open(p) as f:
                    files[p] = (level_of[folder], strip(f.read()))
loose = [n for n in os.listdir(core) if n.endswith(".swift")]
for n in loose:
    errors.append(f"{n}: outside every layer folder")

# name -> lowest level defining it
defined = {}
where = {}
for p, (lv, text) in files.items():
    for line in text.split("\n"):
        m = decl.match(line)
        if m and m.group(1) not in ("private", "fileprivate"):
            name = m.group(3)
            if name not in defined or lv < defined[name]:
                defined[name] = lv
                where[name] = p

for p, (lv, text) in sorted(files.items()):
    seen = set()
    for tok in ident.findall(text):
        if tok in seen:
            continue
        seen.add(tok)
        if tok in defined and defined[tok] > lv:
            rel = os.path.relpath(p, core)
            errors.append(f"{rel} (level {lv}) uses {tok}, defined in {os.path.relpath(where[tok], core)} "
                          f"(level {defined[tok]})")

for e in errors:
    print("FAIL " + e)
if errors:
    print(f"{len(errors)} layering violations")
    sys.exit(1)
print(f"ok   {len(files)} files in {len(levels)} levels: " + " -> ".join("/".join(l) for l in levels))

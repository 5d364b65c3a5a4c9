#!/usr/bin/env python3
"""Enforces the layer table of docs/ARCHITECTURE.md over the #include lines of the source tree.

Every source file belongs to the unit named by the longest prefix of its path in LAYERS; each of
its `#include "..."` lines must name a file of the same unit, or of a unit or file that unit may
use. A unit may use only what its row lists, so a new dependency is a change to this table and
to the architecture page, made on purpose. The check also reports folder-level cycles.

Usage: scripts/check_layers.py [--root DIR] [--graph FILE.dot]
Exit 0 when clean, 1 with one line per violation (file:line: unit -> included file).
"""
import argparse
import os
import re
import sys

# unit -> what it may include besides itself. An entry is a unit (folder: everything in it and
# its sub-folders that are not units of their own) or one header (a narrow interface).
LAYERS = {
    "base": [],
    "proto": ["base"],
    "engine": ["base"],
    "engine/sim": ["base", "engine"],
    "engine/echo": ["base", "engine"],
    "engine/http": ["base", "engine", "proto"],
    # The store sees the runtime only through its file-commit interface.
    "storage": ["base", "proto", "engine/file_commit.h", "engine/file_ops.h"],
    "storage/dump": ["base", "proto", "storage"],
    # Test-only code: linked by tests and fuzzers, never reachable from production units (a
    # `*/testing` unit is allowed only where it is named outright).
    "storage/testing": ["base", "storage"],
    "hw": ["base"],
    "hw/simcard": ["base"],
    "ctl": ["base", "proto", "engine"],
    # Services: the runtime layers, ctl (config, commands), and the services listed before.
    "services/ipa": ["base", "proto", "engine"],
    "services/store": ["base", "proto", "engine", "storage", "ctl"],
    "services/smsc": ["base", "proto", "engine", "storage", "ctl", "services/store"],
    "services/smpp": ["base", "proto", "engine", "storage", "ctl", "services/smsc"],
    "services/remsim": ["base", "proto", "engine", "engine/http", "ctl", "hw/simcard",
                        "services/ipa"],
    "daemon": ["base", "proto", "engine", "engine/http", "storage", "storage/dump", "hw", "ctl",
               "services"],
}
SOURCE_EXT = (".h", ".cc", ".hpp", ".cpp")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def unit_of(path):
    """The longest LAYERS key that is a folder prefix of path (None: not a checked folder)."""
    best = None
    for unit in LAYERS:
        if path == unit or path.startswith(unit + "/"):
            if best is None or len(unit) > len(best):
                best = unit
    return best


def allowed(unit, target_path, target_unit):
    if target_unit == unit:
        return True
    if target_unit is not None and target_unit.endswith("/testing"):
        return target_unit in LAYERS[unit]
    for entry in LAYERS[unit]:
        if entry.endswith(".h"):
            if target_path == entry:
                return True
        elif target_unit is not None and (target_unit == entry or target_unit.startswith(entry + "/")):
            return True
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    ap.add_argument("--graph", help="write the unit dependency graph (as used) in DOT")
    args = ap.parse_args()
    root = os.path.abspath(args.root)

    violations, unknown, edges, files = [], [], set(), 0
    narrow = {}  # edge -> headers, for edges allowed only through named headers
    for unit_dir in sorted({u.split("/")[0] for u in LAYERS}):
        for dirpath, _, names in os.walk(os.path.join(root, unit_dir)):
            for name in sorted(names):
                if not name.endswith(SOURCE_EXT):
                    continue
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, root)
                unit = unit_of(rel)
                if unit is None:
                    unknown.append(rel)
                    continue
                files += 1
                with open(full, encoding="utf-8", errors="replace") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target = m.group(1)
                        if "/" not in target:
                            continue  # a sibling header of the same folder
                        target_unit = unit_of(target)
                        if target_unit != unit and target_unit is not None:
                            edge = (unit, target_unit)
                            if target in LAYERS[unit]:
                                if edge not in edges or edge in narrow:
                                    narrow.setdefault(edge, set()).add(target)
                            else:
                                narrow.pop(edge, None)
                            edges.add(edge)
                        if not allowed(unit, target, target_unit):
                            violations.append(f"{rel}:{lineno}: {unit} may not include {target}")

    # Folder-level cycles among the units actually used.
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    cycles = []
    def visit(node, stack, seen):
        for nxt in sorted(graph.get(node, ())):
            if nxt in stack:
                loop = stack[stack.index(nxt):]
                k = loop.index(min(loop))  # one spelling per cycle, whatever the start
                loop = loop[k:] + loop[:k]
                cycles.append(" -> ".join(loop + [loop[0]]))
            elif nxt not in seen:
                seen.add(nxt)
                visit(nxt, stack + [nxt], seen)
    for start in sorted(graph):
        visit(start, [start], {start})

    if args.graph:
        with open(args.graph, "w") as g:
            g.write("digraph layers {\n  rankdir=BT;\n  node [shape=box, fontname=Helvetica];\n")
            for a, b in sorted(edges):
                if (a, b) in narrow:
                    label = "\\n".join(sorted(h.split("/")[-1] for h in narrow[(a, b)]))
                    g.write(f'  "{a}" -> "{b}" [style=dashed, label="{label}", fontsize=9];\n')
                else:
                    g.write(f'  "{a}" -> "{b}";\n')
            g.write("}\n")

    for rel in unknown:
        print(f"{rel}: in no unit of the layer table (add its folder to scripts/check_layers.py)")
    for v in violations:
        print(v)
    for c in sorted(set(cycles)):
        print(f"cycle: {c}")
    bad = len(violations) + len(unknown) + len(cycles)
    print(f"check_layers: {files} files in {len(LAYERS)} units, {len(edges)} unit dependencies, "
          f"{len(violations)} violations, {len(set(cycles))} cycles")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Flash by crate: sums `llvm-nm --print-size` over the code and read-only symbols of a
firmware ELF, grouped by the first path segment of each symbol (rough: LTO inlines library
code into its callers). Usage: python3 symbols.py ELF [TOP]"""
import re, subprocess, sys
from collections import Counter

elf, top = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20
out = subprocess.run(["llvm-nm", "-C", "--print-size", elf], capture_output=True, text=True,
                     check=True).stdout
groups = Counter()
for line in out.splitlines():
    parts = line.split(None, 3)
    if len(parts) < 4 or parts[2].lower() not in "trd":
        continue
    size, name = int(parts[1], 16), parts[3]
    if parts[2].lower() == "d" or name.startswith("qemu_live::HEAP"):
        continue
    name = re.sub(r"^(_\$LT\$|<|\$RF\$|&|mut\$u20\$|mut |\[|dyn )+", "", name)
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)", name)
    key = m.group(1) if m else "?"
    if key.startswith(".L") or key == "_":
        key = "(anonymous constants)"
    groups[key] += size
for key, size in groups.most_common(top):
    print(f"| {size:>9,} | {key} |")
print(f"| {sum(groups.values()):>9,} | total of named symbols |")

"""Run every benchmark in bench/ and print its figures. `make bench` calls this.

Usage: python bench/run_all.py [NAME ...]   (default: all; names are the scripts' stems)
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    "tracking_overhead",
    "bls_speed",
    "scan",
    "quality",
    "injection",
    "realdata",
    "scale_memory",
    "server_load",
    "faults",
    "fuzz",
]


def main(argv: list[str]) -> int:
    scripts = {p.stem: p for p in HERE.glob("*.py") if p.stem not in ("run_all",)}
    chosen = argv or [name for name in ORDER if name in scripts] + sorted(set(scripts) - set(ORDER))
    failed = []
    for name in chosen:
        if name not in scripts:
            print(f"no benchmark named {name!r}; choices: {', '.join(sorted(scripts))}")
            return 2
        print(f"\n=== bench/{name}.py", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(scripts[name])])
        print(f"=== {name}: exit {code}, {time.perf_counter() - started:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

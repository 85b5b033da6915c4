"""How long verify's comparison takes, and how much memory it holds, per archived change (README "Verify at 10 M rows").

``.venv/bin/python bench/verify_scale.py [N] [--memory]``: N MODIFY changes (default 20,000) of a ~250-byte item,
rebuilt into their Audit rows and compared with an identical table, as ``changetrail verify`` does after reading.
``--memory`` traces allocations (slower: time it without).
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc

from changetrail.verify import ArchivedChange, compare_rows, expected_rows
from functions.write_audit import WriteSettings


def change(number: int) -> ArchivedChange:
    key = {"key": {"S": f"K{number}"}}
    line = {
        "eventId": f"e{number}", "eventName": "MODIFY", "table": "Configuration", "keys": key, "itemKey": f"K{number}",
        "itemKeyParts": {"key": f"K{number}"}, "sequenceNumber": str(1000 + number),
        "modificationTime": f"2026-01-01T00:{number // 600 % 60:02d}:{number // 10 % 60:02d}.000Z", "expiredByTtl": False,
        "oldImage": {**key, "value": {"N": str(number)}, "note": {"S": "x" * 200}},
        "newImage": {**key, "value": {"N": str(number + 1)}, "note": {"S": "x" * 200}},
    }  # fmt: skip
    name = f"ddb-changes/Configuration/2026/01/01/00/{1000 + number}-{1000 + number}-ab.jsonl"
    return ArchivedChange(name, line, "2026-01-01T00:00:00+00:00")


def main(count: int, memory: bool) -> None:
    changes = [change(number) for number in range(count)]
    if memory:
        tracemalloc.start()
    started = time.perf_counter()
    expected, _ = expected_rows(changes, WriteSettings())
    actual = {audit_id: dict(want.row) for audit_id, want in expected.items()}
    rebuilt = time.perf_counter()
    findings = compare_rows(expected, actual, ["Configuration"])
    compared = time.perf_counter()
    peak = tracemalloc.get_traced_memory()[1] if memory else 0
    row_bytes = len(json.dumps(next(iter(actual.values()))))
    print(
        f"{count} changes: rebuild {rebuilt - started:.2f} s, compare {compared - rebuilt:.2f} s, {len(findings)} findings, "
        f"row {row_bytes} B" + (f", peak {peak / 1e6:.0f} MB" if memory else "")
    )


if __name__ == "__main__":
    numbers = [int(arg) for arg in sys.argv[1:] if arg.isdigit()]
    main(numbers[0] if numbers else 20_000, "--memory" in sys.argv)

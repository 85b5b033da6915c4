"""Every Python process of a test run, moved ``CHANGETRAIL_CLOCK_AHEAD_DAYS`` days ahead (``make test-future-all``).

Started at interpreter start-up (this directory on ``PYTHONPATH``), so pytest-xdist's workers and the
``changetrail local`` processes the end-to-end tests spawn travel too. The wall clock moves and keeps
ticking; monotonic clocks stay real, so timeouts and sleeps behave. Debian's libfaketime moves time
for the unit and Pulumi-mock tiers (``make test-future``), but it cannot carry the end-to-end tier:
with the monotonic clock faked, Python's timed lock waits (``sem_clockwait``, which libfaketime 0.9.10
does not intercept) sleep for the whole offset, and with it left real, ``time.sleep`` fails with EINVAL.
"""

import os
from datetime import UTC, datetime, timedelta

if days := os.environ.get("CHANGETRAIL_CLOCK_AHEAD_DAYS"):
    import time_machine

    time_machine.travel(datetime.now(UTC) + timedelta(days=float(days)), tick=True).start()

"""The processes the campaign benchmark measures, each on its own (prints one line of JSON).

    python -m tests.benchmarks.campaign_child sender [--profile FILE]
        The real sender, set up as `magnetiq worker` sets it up (create_app, its database and
        mailer; settings from the environment), run until nothing is left to send.
    python -m tests.benchmarks.campaign_child reference MESSAGE_FILE FIRST COUNT FROM
        The reference: COUNT pre-rendered messages (MESSAGE_FILE's bytes, to person{FIRST}@ and
        on) sent by a bare loop over one aiosmtplib connection (SMTP_HOST, SMTP_PORT).

Only the sending is timed (imports and set-up are not). Each reports `seconds`, `cpu_seconds` (every thread of the process), `runs` and
`peak_kib`, the process's peak resident memory (VmHWM) when it is done.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import sys
import time
from pathlib import Path


def peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource  # not Linux: the same figure, from the kernel's accounting

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def send_campaigns(profile: str | None) -> dict[str, float]:
    from features.email.sender import CampaignSender
    from magnetiq.app import create_app
    from shared.config import get_settings
    from shared.jobs import JobContext

    app = create_app(get_settings())
    context = JobContext(database=app.state.db, settings=app.state.settings, mailer=app.state.mailer)
    profiler = cProfile.Profile() if profile else None
    runs = 0
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        while True:  # as the worker goes round while a run reports due work left
            runs += 1
            if not await CampaignSender(context).run(seconds=30):
                break
        if profiler:
            profiler.disable()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        await app.state.db.dispose()
    if profiler and profile:
        profiler.dump_stats(profile)
    return {"seconds": seconds, "cpu_seconds": cpu, "runs": runs}


async def send_reference(message: bytes, first: int, count: int, sender: str) -> dict[str, float]:
    import aiosmtplib

    client = aiosmtplib.SMTP(hostname=os.environ["SMTP_HOST"], port=int(os.environ["SMTP_PORT"]), timeout=30)
    started, cpu_started = time.perf_counter(), time.process_time()
    await client.connect()
    for number in range(first, first + count):
        await client.sendmail(sender, [f"person{number}@example.com"], message)
    await client.quit()
    return {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu_started, "runs": 1}


def main(argv: list[str]) -> None:
    if argv[0] == "sender":
        profile = argv[2] if len(argv) > 2 and argv[1] == "--profile" else None
        result = asyncio.run(send_campaigns(profile))
    elif argv[0] == "reference":
        message_file, first, count, sender = argv[1:5]
        result = asyncio.run(send_reference(Path(message_file).read_bytes(), int(first), int(count), sender))
    else:
        raise SystemExit(f"unknown process {argv[0]!r}")
    print(json.dumps({**result, "peak_kib": peak_kib()}))


if __name__ == "__main__":
    main(sys.argv[1:])

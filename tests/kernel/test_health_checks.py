import asyncio
import threading
import time

from shared.health_checks import CheckResult, SingleFlight, run_checks, worst


async def _healthy() -> CheckResult:
    return CheckResult(status="healthy")


async def _hangs() -> CheckResult:
    await asyncio.Event().wait()
    raise AssertionError("never answers")


async def _breaks() -> CheckResult:
    raise ValueError("/srv/secret/path is gone")


async def test_a_hanging_check_times_out_alone_while_the_others_answer():
    started = time.monotonic()
    answers = await run_checks({"fine": (CheckResult, _healthy()), "hung": (CheckResult, _hangs())}, time_limit=0.2)
    assert time.monotonic() - started < 1
    assert answers["fine"] == CheckResult(status="healthy")
    assert answers["hung"] == CheckResult(status="unhealthy", message="timed out after 0.2 s")


async def _own_timeout() -> CheckResult:
    raise TimeoutError


async def test_a_failing_check_is_unhealthy_naming_the_error_class_only():
    answers = await run_checks({"broken": (CheckResult, _breaks()), "own": (CheckResult, _own_timeout())},
                               time_limit=1)
    assert answers["broken"] == CheckResult(status="unhealthy", message="check failed (ValueError)")
    # A TimeoutError of the check's own is a failure, not the time limit's.
    assert answers["own"] == CheckResult(status="unhealthy", message="check failed (TimeoutError)")


def test_worst_orders_healthy_warning_unhealthy():
    assert worst([]) == "healthy"
    assert worst(["healthy", "warning", "healthy"]) == "warning"
    assert worst(["warning", "unhealthy", "healthy"]) == "unhealthy"


async def test_single_flight_runs_a_hung_probe_in_one_thread_however_often_it_is_asked():
    release, calls, threads = threading.Event(), [], set()

    def probe() -> str:
        calls.append(1)
        threads.add(threading.get_ident())
        release.wait(5)
        return "done"

    flights = SingleFlight()
    for _ in range(3):  # three callers give up; the one thread goes on
        try:
            async with asyncio.timeout(0.05):
                await flights.run("disk", probe)
        except TimeoutError:
            pass
    assert len(calls) == 1 and threading.get_ident() not in threads
    release.set()
    assert await flights.run("disk", probe) == "done"
    assert await flights.run("disk", probe) == "done" and len(calls) == 2  # finished: the next call probes anew

from typing import Annotated

from fastapi import Depends, Request

from features.admin.probes import SystemProbes


async def get_system_probes(request: Request) -> SystemProbes:
    """The process's probes, made on first use (their quick_check answer is kept per process)."""
    state = request.app.state
    if getattr(state, "system_probes", None) is None:
        state.system_probes = SystemProbes()
    return state.system_probes


SystemProbesDep = Annotated[SystemProbes, Depends(get_system_probes)]

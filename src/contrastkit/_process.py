"""Whether a process still runs: what tells a killed writer's leftover temporary
(its name carries the writer's pid) from one a live writer is still filling."""

from __future__ import annotations

import os


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (this one counts: it may be
    writing; another user's process counts too: not ours to judge)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True

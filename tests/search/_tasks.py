"""Top-level tasks for executor tests (spawned workers import this module by name)."""

import os
import time


def init(value):
    return {"offset": value, "pid": os.getpid()}


def work(state, payload):
    kind, value = payload
    if (kind == "signal" and os.environ.get("TASKS_SAFE") != "1") or kind == "signal_always":
        os.kill(os.getpid(), value)  # a native crash (unless in the safe environment)
    if kind.startswith("signal"):
        return value + state["offset"], state["pid"], os.environ.get("TASKS_SAFE")
    if kind == "raise":
        raise ValueError(f"bad payload {value}")
    if kind == "crash":
        os._exit(value)
    if kind == "sleep":
        time.sleep(value)
    return value + state["offset"], state["pid"]


def init_with_teardown(marker_dir):
    """A worker whose interpreter teardown would leave a file behind (``atexit``)."""
    import atexit
    from pathlib import Path

    atexit.register(lambda: (Path(marker_dir) / f"teardown-{os.getpid()}").touch())
    return init(0)

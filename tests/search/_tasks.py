"""Top-level tasks for executor tests (spawned workers import this module by name)."""

import os
import time


def init(value):
    return {"offset": value, "pid": os.getpid()}


def work(state, payload):
    kind, value = payload
    if kind == "raise":
        raise ValueError(f"bad payload {value}")
    if kind == "crash":
        os._exit(value)
    if kind == "sleep":
        time.sleep(value)
    return value + state["offset"], state["pid"]

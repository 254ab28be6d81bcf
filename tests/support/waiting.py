"""Waiting for what another thread or process does next: an answer saved, a title asked, a line logged."""

import time


def eventually(check, timeout=5.0, interval=0.02):
    """True as soon as `check()` is, False if it is still not after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)

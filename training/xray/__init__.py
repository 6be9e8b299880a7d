"""Chest X-ray COVID-19-vs-normal classifier; see training/README.md."""

import time


def log(*a):
    """A progress line with the time of day."""
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)

"""The client scripts' one way to wait, as crates/proxy/tests/common/eventually.rs is the Rust
tests': look at what is awaited until it holds, within one deadline far beyond anything the
product should take. It only turns a hang into a failure that names what never happened.

Imported by the scripts next to it (a script's own directory is on `sys.path`).
"""
import queue
import time

# Seconds anything awaited may take: only a broken product, or a hang, comes near it.
PATIENCE = 60.0
EVERY = 0.02


def eventually(what, look):
    """Calls `look()` until it returns something true, and returns that; raises naming `what`."""
    deadline = time.monotonic() + PATIENCE
    while True:
        found = look()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("%s: not so after %ss" % (what, PATIENCE))
        time.sleep(EVERY)


def next_from(q, what):
    """The next item of the queue `q`; raises naming `what` if none comes."""
    try:
        return q.get(timeout=PATIENCE)
    except queue.Empty:
        raise AssertionError("%s: nothing after %ss" % (what, PATIENCE)) from None

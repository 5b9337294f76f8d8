"""The HTML report's work in forked processes, for its memory and its time: the evaluation in a child
whose memory all goes back to the system when it ends (a big program's evaluation peaks at about
120 MB, which matplotlib would otherwise sit on top of), and the charts drawn by several processes at
once. Where processes cannot be forked (Windows, or a fork refused for want of memory) the work is
done in this process, with the same result.

Each child gets its work at the fork and sends its result back through a pipe of its own; it holds no
other end of it, so a parent that is gone (killed) ends it at its next write instead of leaving it to
wait forever, and a parent interrupted (Ctrl-C) kills its children at once. No store connection is
open across a fork: the caller closes its store first, the child opens its own.
"""

from __future__ import annotations

import os
import pickle
import signal
import traceback
from collections.abc import Callable, Iterable
from typing import TypeVar

from vpslog.errors import StoreError

T = TypeVar("T")


class ChildTraceback(Exception):
    """Where an error raised in a child happened: attached as its cause, so `--debug` shows it."""

    def __str__(self) -> str:
        return self.args[0]


def apart(work: Callable[[], T]) -> T:
    """`work()`'s result, computed in a forked child; its error is raised here."""
    child = _fork(work)
    return work() if child is None else _collect([child])[0]


def mapped(function: Callable[[object], T], items: Iterable, workers: int) -> list[T]:
    """`function` over `items`, in order, by `workers` processes at once: this one and `workers - 1`
    forked ones, each taking every `workers`-th item (this one drawing too saves a process's memory)."""
    items = list(items)
    workers = min(workers, len(items))
    if workers < 2:
        return [function(item) for item in items]
    import gc

    gc.freeze()  # until the children end, no process's garbage collector writes to the shared pages: 25 MB less
    shares = [range(first, len(items), workers) for first in range(workers)]  # shares[0]: this process's
    children: list[tuple[int, int]] = []
    try:
        for share in shares[1:]:
            child = _fork(lambda share=share: [function(items[index]) for index in share],
                          inherited=[received for _, received in children])
            if child is None:  # no fork: what is left is done here
                break
            children.append(child)
        theirs = {index for share in shares[1:len(children) + 1] for index in share}
        try:
            results = {index: function(item) for index, item in enumerate(items) if index not in theirs}
        except BaseException:
            _end(children)
            raise
        for share, done in zip(shares[1:], _collect(children)):
            results.update(zip(share, done))
    finally:
        gc.unfreeze()
    return [results[index] for index in range(len(items))]


def _fork(work: Callable[[], object], inherited: Iterable[int] = ()) -> tuple[int, int] | None:
    """A child computing `work()` and sending back (True, result) or (False, error, its traceback);
    (its pid, the end of its pipe to read), or None where no process can be forked. `inherited`: the
    pipe ends of earlier children, which the child closes (only their parent may hold them)."""
    if not hasattr(os, "fork"):
        return None
    received, sent = os.pipe()
    try:
        pid = os.fork()
    except OSError:  # EAGAIN, ENOMEM: the work is done here instead
        os.close(received)
        os.close(sent)
        return None
    if pid:
        os.close(sent)
        return pid, received
    try:  # the child: never returns, never runs the parent's cleanup
        for fd in (received, *inherited):
            os.close(fd)
        try:
            outcome = (True, work())
        except BaseException as exc:  # an InputError, a broken rules file, Ctrl-C: the parent raises it
            outcome = (False, exc, traceback.format_exc())
        try:
            data = pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL)
        except Exception:  # an error that cannot be sent: its type, message and traceback can
            data = pickle.dumps((False, RuntimeError(f"{type(outcome[1]).__name__}: {outcome[1]}"), outcome[-1]))
        with os.fdopen(sent, "wb") as pipe:
            pipe.write(data)
    finally:
        os._exit(0)


def _collect(children: list[tuple[int, int]]) -> list:
    """Each child's result, in order, once it has ended; an error it sent is raised here, with where it
    happened as its cause. Interrupted, the children not yet reaped are killed at once."""
    sent = []
    for index, (pid, received) in enumerate(children):
        try:
            with os.fdopen(received, "rb") as pipe:
                sent.append(pipe.read())
        except BaseException:
            _end([(pid, None), *children[index + 1:]])
            raise
        os.waitpid(pid, 0)
    results = []
    for data in sent:
        try:
            done, value, *where = pickle.loads(data)
        except Exception:  # killed before it had written all of it
            raise StoreError("the report's work ended without a result (was its process killed?)") from None
        if not done:
            value.__cause__ = ChildTraceback(where[0])
            raise value
        results.append(value)
    return results


def _end(children: list[tuple[int, int | None]]) -> None:
    """Kill and reap children whose results are no longer wanted, closing the pipe ends still open."""
    for pid, received in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        if received is not None:
            os.close(received)

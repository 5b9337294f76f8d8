"""The HTML report's work in forked processes, for its memory and its time: the evaluation in a child
whose memory all goes back to the system when it ends (a big program's evaluation peaks at about
120 MB, which matplotlib would otherwise sit on top of), and the charts in workers drawing at once.
Where processes cannot be forked (Windows) the work is done in this process, with the same result.
No store connection is open across a fork: the caller closes its store first, the child opens its own.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
from collections.abc import Callable, Iterable
from typing import TypeVar

from vpslog.errors import StoreError

T = TypeVar("T")


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def apart(work: Callable[[], T]) -> T:
    """`work()`'s result (sent back pickled), computed in a forked child; its error is raised here."""
    if not can_fork():
        return work()
    received, sent = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns, never runs the parent's cleanup
        os.close(received)
        try:
            try:
                outcome = (True, work())
            except BaseException as exc:  # an InputError, a broken rules file, Ctrl-C: the parent raises it
                outcome = (False, exc)
            with os.fdopen(sent, "wb") as pipe:
                try:
                    data = pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL)
                except Exception as exc:  # an error that cannot be sent: its type and message can
                    data = pickle.dumps((False, StoreError(f"{type(outcome[1]).__name__}: {outcome[1]}"
                                                           if not outcome[0] else f"unsendable result: {exc}")))
                pipe.write(data)
        finally:
            os._exit(0)
    os.close(sent)
    try:
        with os.fdopen(received, "rb") as pipe:
            data = pipe.read()
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        raise
    finally:
        os.waitpid(pid, 0)
    if not data:
        raise StoreError("the report's evaluation ended without a result (was its process killed?)")
    done, value = pickle.loads(data)
    if not done:
        raise value
    return value


def mapped(function: Callable[[object], T], items: Iterable, workers: int) -> list[T]:
    """`function` over `items`, in order, by `workers` processes at once: this one and `workers - 1`
    forked ones (each holds what it draws: this one drawing too saves a process's worth of memory)."""
    items = list(items)
    if workers < 2 or not can_fork():
        return [function(item) for item in items]
    import gc
    from concurrent.futures import ProcessPoolExecutor

    theirs = [index for index in range(len(items)) if index % workers]
    gc.freeze()  # the workers' garbage collector leaves the shared objects' pages alone: 25 MB less
    try:
        with ProcessPoolExecutor(workers - 1, mp_context=multiprocessing.get_context("fork")) as pool:
            done = pool.map(function, [items[index] for index in theirs])
            results = {index: function(items[index]) for index in range(0, len(items), workers)}
            results.update(zip(theirs, done))
    finally:
        gc.unfreeze()
    return [results[index] for index in range(len(items))]

"""Group commit: one bookkeeper thread per process runs every claim and record its threads ask for, all those
waiting in one transaction (a batch).

A caller queues a request and, for a claim, waits for its future; the bookkeeper takes every request queued,
runs them as one batch, answers each request's future and queues the batch's callbacks for the callback thread.
With one thread asking, a batch is one request; under load, batches grow by themselves, as a database's group
commit does. The rules are numbered in docs/group-commit.md; the numbers below refer to them.
"""

from __future__ import annotations

import atexit
import copy
import logging
import queue
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

from pipeline.engine.claims import ClaimRequest, Committed, Job, Outcome, RecordRequest, Request, Result

log = logging.getLogger("gongkai.grouping")
T = TypeVar("T")
Callback = Callable[[Future[list[Outcome]]], None]


class GroupCommit:
    """claim(ids) -> jobs and record(results, then) for a process's threads, batched by one bookkeeper thread."""

    def __init__(self, commit: Callable[[list[Request]], Committed], *,
                 outage: Callable[[BaseException], bool]) -> None:
        """`commit` runs a batch in one transaction, all or nothing; `outage(error)`: every request would fail
        alike (the database unreachable), so the batch is not rerun one request at a time."""
        self._commit = commit
        self._outage = outage
        self._callbacks: _Lane[RecordRequest] = _Lane("callback", _call_back)
        self._bookkeeper: _Lane[Request] = _Lane("bookkeeper", self._run_batch)
        closing = weakref.ref(self)  # (a test builds many engines: their group commits are not kept alive by this)
        atexit.register(lambda: (group := closing()) is not None and group.close())

    def claim(self, ids: Sequence[int]) -> list[Job]:
        """The deliveries of `ids` claimed, in id order, with their messages rendered; waits for its batch."""
        request = ClaimRequest(tuple(ids))
        self._ask(request)
        return request.future.result()

    def record(self, results: Sequence[Result], then: Callback | None = None) -> Future[list[Outcome]]:
        """The results written by the next batch: one outcome each, in order, in the future returned. then(future),
        if given, is called on the callback thread once the batch has ended (5, 6); nobody needs to wait."""
        request = RecordRequest(tuple(results), callback=then)
        self._ask(request)
        return request.future

    def _ask(self, request: Request) -> None:
        # both threads are started here, so that one that cannot start fails the caller (8), never the bookkeeper
        self._callbacks.start()
        self._bookkeeper.put(request)

    def waiting(self) -> int:
        """Requests queued for the next batch."""
        return self._bookkeeper.waiting()

    def close(self) -> None:
        """Run what is queued, then the callbacks it leads to (8); later requests run in their caller's thread."""
        self._bookkeeper.close()
        self._callbacks.close()

    def _run_batch(self, batch: list[Request]) -> None:
        """One transaction for the batch, else one per request unless it was an outage (3); every request is
        answered (2), and the records' callbacks queued in the order of the batches (6)."""
        try:
            self._answer(batch, self._commit(batch))
        except Exception as error:
            if len(batch) == 1 or self._outage(error):
                _fail(batch, error)
            else:
                for request in batch:  # whose request it was is unknown: each on its own
                    self._run_batch([request])
                return
        except BaseException as error:  # noqa: BLE001  (a bug or a stop in the commit: nobody is left waiting)
            log.exception("a batch of %d requests was stopped", len(batch))
            _fail(batch, error)
        for request in batch:
            if isinstance(request, RecordRequest) and request.callback is not None:
                self._callbacks.put(request)

    @staticmethod
    def _answer(batch: list[Request], committed: Committed) -> None:
        answers: list[tuple[Future, list]] = []  # all found before any is given: all or none (2)
        for request in batch:
            if isinstance(request, ClaimRequest):
                answers.append((request.future, committed.jobs[request]))
            else:
                outcomes = committed.outcomes[request]
                if len(outcomes) != len(request.results):
                    raise RuntimeError(f"{len(outcomes)} outcomes for {len(request.results)} results")
                answers.append((request.future, outcomes))
        for future, answer in answers:
            future.set_result(answer)


def _fail(batch: list[Request], error: BaseException) -> None:
    for request in batch:
        if not request.future.done():
            request.future.set_exception(_own(error))


def _own(error: BaseException) -> BaseException:
    """A copy of an exception for one caller to raise (threads raising one object tangle its traceback)."""
    try:
        return copy.copy(error)
    except Exception:  # noqa: BLE001  (an exception that cannot be copied is raised as it is)
        return error


def _call_back(requests: list[RecordRequest]) -> None:
    """Callbacks in order; one that fails is logged and the next runs (nobody waits for a callback to raise to)."""
    for request in requests:
        try:
            request.callback(request.future)  # type: ignore[misc]
        except BaseException:  # noqa: BLE001
            log.exception("the callback of a record failed")


_STOP = object()


class _Lane(Generic[T]):
    """One daemon thread, started on first use, handing everything queued to `handle`, in order, as many as wait at
    once. close() runs what is queued and ends the thread; an item put after that is handled in the caller's
    thread. (A daemon thread, closed at exit: the interpreter has then joined the threads that could still ask.)
    The thread holds the lane weakly: a lane nobody uses any more (a test's engine) ends its thread."""

    def __init__(self, name: str, handle: Callable[[list[T]], None]) -> None:
        self._name, self._handle = name, handle
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> None:
        """Start the thread unless it runs or the lane is closed; if it cannot start, the error is raised here."""
        with self._lock:
            if self._thread is None and not self._closed:
                lane = weakref.ref(self, lambda _, items=self._queue: items.put(_STOP))
                thread = threading.Thread(target=_drain, args=(lane, self._queue), name=self._name, daemon=True)
                thread.start()
                self._thread = thread

    def put(self, item: T) -> None:
        self.start()
        with self._lock:
            if not self._closed:
                self._queue.put(item)
                return
        self._handle([item])

    def waiting(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        with self._lock:
            self._closed, thread = True, self._thread
        if thread is not None:
            self._queue.put(_STOP)  # the last item: nothing is queued once closed
            thread.join()


def _drain(lane: weakref.ref[_Lane[T]], queued: queue.SimpleQueue[object]) -> None:
    """A lane's thread: everything queued, as many at once as wait, until the lane is closed or gone."""
    while True:
        items = [queued.get()]
        while not queued.empty():
            items.append(queued.get())
        stop = items[-1] is _STOP
        if stop:
            items.pop()
        if items and (handler := lane()) is not None:
            handler._handle(items)  # type: ignore[arg-type]
            del handler
        if stop:
            return

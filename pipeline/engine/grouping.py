"""Group commit: the same database work, asked for by several threads at once, done once for all of them.

A worker's threads each claim their message's deliveries, send them and record the results. One message at
a time, a claim or a record is a transaction of several statements for about three rows, and the worker
spends more on the statements than on the rows. A Group runs such work for every thread that asks while it
is busy: the first thread to ask leads, takes every request made so far (its own included), runs the work
once and hands each thread its share; the requests made meanwhile are led by the next leader, one of their
own threads (or the handed-off thread, below). With one thread asking, a group is one request and nobody
waits; under load, groups grow by themselves, as a database's group commit does.

A group that fails for any reason but the one `shared(error)` names (the database unreachable: every request
would fail alike) is run again one request at a time, so that one thread's data cannot fail another's work.

A request can also be handed off: its thread does not wait for it. It is run by the next group, led by a thread
waiting for a request of its own if one is, else by the group's handed-off thread, which leads groups until no
request waits or one waits whose thread can lead: no thread that asked leads a group holding nothing of its own.
`then(share, error)` runs once its group is done, in the group's one follow-up thread, in the order the groups
ran: a slow follow-up (a channel call) holds up no group and no thread waiting for one. Handed-off requests and
follow-ups still queued when the process exits are run before it ends.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

log = logging.getLogger("gongkai.grouping")
Request = TypeVar("Request")
Share = TypeVar("Share")


@dataclass(eq=False)
class _Ticket(Generic[Request, Share]):
    request: Request
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # this thread runs the next group
    answered: bool = False
    share: Share | None = None
    error: BaseException | None = None
    then: Callable[[Share | None, BaseException | None], None] | None = None  # handed off: nobody waits for it


class Group(Generic[Request, Share]):
    """group(request) -> its share of work(requests), run for every request waiting when a group starts."""

    def __init__(self, work: Callable[[list[Request]], list[Share]], *,
                 shared: Callable[[BaseException], bool]) -> None:
        self._work = work
        self._shared = shared
        self._lock = threading.Lock()
        self._waiting: list[_Ticket[Request, Share]] = []
        self._busy = False
        self._threads: dict[str, ThreadPoolExecutor] = {}  # the handed-off and follow-up threads, started on use

    def __call__(self, request: Request) -> Share:
        ticket: _Ticket[Request, Share] = _Ticket(request)
        if self._queue(ticket):
            self._lead()
        else:
            ticket.done.wait()  # set when its group is done, or when it is to lead the next one
            if ticket.lead:
                self._lead()
        if ticket.error is not None:
            raise _own(ticket.error) from ticket.error  # one thread's copy: threads raising one object tangle
        return ticket.share  # type: ignore[return-value]

    def hand_off(self, request: Request, then: Callable[[Share | None, BaseException | None], None]) -> None:
        """Have `request` done without waiting for it: by the next group (the handed-off thread's if none runs)."""
        if self._queue(_Ticket(request, then=then)):
            self._in_thread("handed-off", self._lead_handed_off)

    def _queue(self, ticket: _Ticket[Request, Share]) -> bool:
        """Queue a request; True if its thread is to lead (no group is running)."""
        with self._lock:
            self._waiting.append(ticket)
            ticket.lead, self._busy = not self._busy, True
        return ticket.lead

    def _lead(self) -> None:
        """Run a group of every request waiting, this thread's own among them."""
        self._one_group(keep=False)

    def _lead_handed_off(self) -> None:
        """The handed-off thread: groups until no request waits, or one waits whose thread can lead."""
        try:
            while self._one_group(keep=True):
                pass
        except BaseException:  # noqa: BLE001  (nobody waits for this thread: what stopped it is told here)
            log.exception("a group of handed-off requests was stopped")

    def _one_group(self, *, keep: bool) -> bool:
        """Run every request waiting as one group; True if the lead is kept (`keep`: only handed-off requests wait)."""
        with self._lock:
            group, self._waiting = self._waiting, []
        finished = False
        try:
            self._run(group)
            finished = True
        finally:
            kept = self._pass_on(group, keep=keep and finished)
        return kept

    def _pass_on(self, group: list[_Ticket[Request, Share]], *, keep: bool) -> bool:
        """A group ended: its follow-ups queued, its threads woken, and the lead given to a waiting thread, else
        kept (`keep`, True returned) or given to the handed-off thread while handed-off requests wait, else given up.
        The follow-ups are queued before anyone can lead again, so that they run in the order the groups ran."""
        for ticket in group:
            if not ticket.answered:  # the work stopped before it came to this request (a BaseException)
                ticket.answered, ticket.error = True, ticket.error or RuntimeError("the group ended unanswered")
        if followed := [ticket for ticket in group if ticket.then is not None]:
            self._in_thread("follow-up", _follow, followed)
        with self._lock:
            successor = next((t for t in self._waiting if t.then is None), None)
            left = successor is None and bool(self._waiting)
            if successor is not None:
                successor.lead = True
            elif not left:
                self._busy = False  # the next request to come leads
        for ticket in group:
            ticket.done.set()
        if successor is not None:
            successor.done.set()
        if left and not keep:
            self._in_thread("handed-off", self._lead_handed_off)
        return left and keep

    def _in_thread(self, name: str, function: Callable[..., None], *args: Any) -> None:
        """function(*args) in this group's thread of that name, after what it was given before."""
        with self._lock:
            if name not in self._threads:
                self._threads[name] = ThreadPoolExecutor(1, thread_name_prefix=name)
            thread = self._threads[name]
        try:
            thread.submit(function, *args)
        except RuntimeError as error:  # not raised: a caller may be passing the lead on
            if "shutdown" in str(error):  # the interpreter is shutting down and takes no new thread work
                function(*args)
            else:  # "can't start new thread": the work is queued and runs once the thread can start
                log.error("the %s thread could not start (%s): its work waits for it", name, error)

    def _run(self, group: list[_Ticket[Request, Share]]) -> None:
        try:
            shares = self._work([ticket.request for ticket in group])
            if len(shares) != len(group):
                raise RuntimeError(f"{len(shares)} answers for {len(group)} requests")
        except Exception as error:
            if len(group) == 1 or self._shared(error):
                for ticket in group:
                    ticket.answered, ticket.error = True, error
                return
            for ticket in group:  # whose request it was is unknown: each on its own
                self._run([ticket])
            return
        for ticket, share in zip(group, shares, strict=True):
            ticket.answered, ticket.share = True, share


def _follow(tickets: list[_Ticket[Any, Any]]) -> None:
    """Handed-off requests' follow-ups, in order; a failure is logged and the next one runs (nobody waits for a
    follow-up to raise to, and one run here and now at exit must not stop the group that ran it)."""
    for ticket in tickets:
        try:
            ticket.then(ticket.share, ticket.error)  # type: ignore[misc]
        except BaseException:  # noqa: BLE001
            log.exception("the follow-up of a handed-off request failed")


def _own(error: BaseException) -> BaseException:
    """A copy of an exception for one thread to raise (its type kept, so that callers catch it as before)."""
    try:
        return copy.copy(error)
    except Exception:  # noqa: BLE001  (an exception that cannot be copied is raised as it is)
        return error

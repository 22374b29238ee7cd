"""Group commit (pipeline/engine/grouping.py): what threads ask for while a group runs is done together, each
its own share, and one thread's bad request fails nobody else's."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from pipeline.engine.grouping import Group


class Outage(Exception):
    """Stands for the database being unreachable: every request would fail alike."""


def queued(group: Group, count: int) -> None:
    """Wait until `count` requests wait for the running group to end."""
    deadline = time.monotonic() + 10
    while len(group._waiting) < count:
        assert time.monotonic() < deadline, f"{len(group._waiting)} requests waiting, not {count}"
        time.sleep(0.001)


def leading(pool: ThreadPoolExecutor, group: Group, request, calls: list) -> Future:
    """`request` asked in the pool's thread, which leads a group: returned once its work has started."""
    future = pool.submit(group, request)
    while not calls:
        time.sleep(0.001)
    return future


def second_group(group: Group, calls: list, release: threading.Event, first, rest: list) -> tuple:
    """`first` asked alone (its work records the call in `calls` and waits for `release`), then `rest` while it
    runs: they queue for the next group; then the first group is released. The futures of first and of rest."""
    pool = ThreadPoolExecutor(1 + len(rest))
    leader = leading(pool, group, first, calls)
    followers = [pool.submit(group, request) for request in rest]
    queued(group, len(rest))
    release.set()
    pool.shutdown(wait=False)
    return leader, followers


def test_requests_made_while_a_group_runs_are_done_together_and_each_gets_its_own_share():
    calls, release = [], threading.Event()

    def work(requests):
        calls.append(list(requests))
        if len(calls) == 1:
            release.wait(10)  # the first group is slow: the others ask meanwhile
        return [r * 10 for r in requests]

    group = Group(work, shared=lambda e: False)
    first, rest = second_group(group, calls, release, 1, [2, 3, 4, 5])
    assert first.result(10) == 10
    assert [f.result(10) for f in rest] == [20, 30, 40, 50]
    assert calls[0] == [1] and sorted(calls[1]) == [2, 3, 4, 5] and len(calls) == 2  # one group for the four


def test_one_threads_bad_request_fails_only_that_thread():
    release, calls = threading.Event(), []

    def work(requests):
        calls.append(list(requests))
        release.wait(10)
        if "bad" in requests:
            raise ValueError("bad request")
        return [r.upper() for r in requests]

    group = Group(work, shared=lambda e: isinstance(e, Outage))
    first, rest = second_group(group, calls, release, "a", ["b", "bad", "c"])
    assert first.result(10) == "A"
    assert rest[0].result(10) == "B" and rest[2].result(10) == "C"
    with pytest.raises(ValueError, match="bad request"):
        rest[1].result(10)
    assert sorted(calls[1]) == ["b", "bad", "c"]  # together first, then each alone
    assert sorted(map(tuple, calls[2:])) == [("b",), ("bad",), ("c",)]


def test_a_shared_failure_fails_the_whole_group_once_and_the_next_group_runs():
    release, calls = threading.Event(), []

    def work(requests):
        calls.append(list(requests))
        release.wait(10)
        if len(calls) == 2:
            raise Outage("database unreachable")
        return requests

    group = Group(work, shared=lambda e: isinstance(e, Outage))
    first, rest = second_group(group, calls, release, 1, [2, 3, 4])
    assert first.result(10) == 1
    for future in rest:
        with pytest.raises(Outage):
            future.result(10)
    assert len(calls) == 2  # not run again one by one: they would fail alike
    assert group(5) == 5  # the group is free again


def test_many_threads_asking_at_random_each_get_their_own_share_and_nothing_hangs():
    sizes = []

    def work(requests):
        sizes.append(len(requests))
        time.sleep(random.uniform(0, 0.002))
        return [(thread, n * n) for thread, n in requests]

    group = Group(work, shared=lambda e: False)

    def client(thread: int) -> list:
        answers = []
        for n in range(60):
            time.sleep(random.uniform(0, 0.001))
            answers.append(group((thread, n)))
        return answers

    with ThreadPoolExecutor(24) as pool:
        results = list(pool.map(client, range(24), timeout=60))
    assert results == [[(thread, n * n) for n in range(60)] for thread in range(24)]
    assert sum(sizes) == 24 * 60 and max(sizes) > 1  # every request once; under load, groups of several


def test_work_that_answers_for_fewer_requests_fails_each_of_them_instead_of_answering_none():
    release, calls = threading.Event(), []

    def work(requests):
        calls.append(list(requests))
        release.wait(10)
        return [r + 1 for r in requests][:1]  # a bug: one answer for the group

    group = Group(work, shared=lambda e: False)
    first, rest = second_group(group, calls, release, 0, [10, 20])
    assert first.result(10) == 1
    assert [f.result(10) for f in rest] == [11, 21]  # each alone: one answer for one request is right


def test_a_leader_stopped_by_a_base_exception_leaves_no_thread_waiting_or_answered_with_none():
    release, calls = threading.Event(), []

    def work(requests):
        calls.append(list(requests))
        release.wait(10)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process is being stopped while it leads the second group
        return requests

    group = Group(work, shared=lambda e: False)
    first, rest = second_group(group, calls, release, 1, [2, 3, 4])
    assert first.result(10) == 1
    errors = []
    for future in rest:
        try:
            future.result(10)
        except BaseException as e:  # noqa: BLE001  (the test looks at which)
            errors.append(type(e))
    assert sorted(map(str, errors)) == sorted(map(str, [KeyboardInterrupt, RuntimeError, RuntimeError]))
    assert group(5) == 5


class Followed:
    """The follow-ups of handed-off requests: (share, error, thread) each, and an event per call."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.called = threading.Event()

    def __call__(self, share, error) -> None:
        self.calls.append((share, error, threading.current_thread().name))
        self.called.set()


def slow_first_group() -> tuple[Group, list, threading.Event]:
    """A group whose work answers r * 10 and whose first group waits for the event; the groups' requests."""
    calls, release = [], threading.Event()

    def work(requests):
        calls.append(list(requests))
        if len(calls) == 1:
            release.wait(10)
        return [r * 10 for r in requests]

    return Group(work, shared=lambda e: False), calls, release


def test_a_handed_off_request_returns_at_once_and_the_handed_off_thread_runs_it_not_the_thread_that_led():
    calls, release, second = [], threading.Event(), threading.Event()
    followed = Followed()

    def work(requests):
        calls.append((list(requests), threading.current_thread().name))
        (second if len(calls) == 2 else release).wait(10)
        return [r * 10 for r in requests]

    group = Group(work, shared=lambda e: False)
    with ThreadPoolExecutor(1, thread_name_prefix="leader") as pool:
        leader = leading(pool, group, 1, calls)
        group.hand_off(2, followed)  # returns while the first group still runs
        assert len(calls) == 1 and not followed.calls
        release.set()
        assert leader.result(10) == 10  # while the group of 2 still runs: the leader led only its own
        assert not followed.calls
        second.set()
        assert followed.called.wait(10)
    assert [(requests, thread.split("_")[0]) for requests, thread in calls] == [([1], "leader"), ([2], "handed-off")]
    assert followed.calls == [(20, None, followed.calls[0][2])] and followed.calls[0][2].startswith("follow-up")
    assert group(3) == 30  # the group is free again


def test_a_handed_off_request_with_no_group_running_is_run_by_the_handed_off_thread_and_hand_off_returns_at_once():
    calls, followed, release = [], Followed(), threading.Event()

    def work(requests):
        calls.append((list(requests), threading.current_thread().name))
        release.wait(10)
        return [r + 1 for r in requests]

    group = Group(work, shared=lambda e: False)
    group.hand_off(1, followed)  # returns before its group ends (the group waits for `release`)
    assert not followed.calls
    release.set()
    assert followed.called.wait(10) and followed.calls[0][:2] == (2, None)
    (requests, thread), = calls
    assert requests == [1] and thread.startswith("handed-off")


def test_a_thread_waiting_leads_the_next_group_and_runs_the_handed_off_requests_made_before_it():
    group, calls, release = slow_first_group()
    followed = Followed()
    with ThreadPoolExecutor(2) as pool:
        first = leading(pool, group, 1, calls)
        group.hand_off(2, followed)
        waiting = pool.submit(group, 3)
        queued(group, 2)
        release.set()
        assert first.result(10) == 10 and waiting.result(10) == 30
    assert calls == [[1], [2, 3]] and followed.called.wait(10) and followed.calls[0][:2] == (20, None)


def test_a_handed_off_requests_error_goes_to_its_follow_up_and_a_failing_follow_up_is_only_logged(caplog):
    def work(requests):
        if "bad" in requests:
            raise ValueError("bad request")
        return [r.upper() for r in requests]

    group = Group(work, shared=lambda e: False)
    followed, after = Followed(), Followed()
    group.hand_off("bad", followed)

    def broken(share, error):
        raise RuntimeError("follow-up bug")

    group.hand_off("a", broken)
    group.hand_off("b", after)
    assert followed.called.wait(10) and after.called.wait(10)  # follow-ups run in order: the broken one between
    (share, error, _), = followed.calls
    assert share is None and isinstance(error, ValueError)
    assert after.calls[0][:2] == ("B", None)
    assert "the follow-up of a handed-off request failed" in caplog.text and "follow-up bug" in caplog.text
    assert group("c") == "C"  # the group is free again


def test_a_slow_follow_up_holds_up_neither_the_groups_after_it_nor_the_thread_that_led():
    calls, release, unblock, fourth = [], threading.Event(), threading.Event(), threading.Event()
    quick = Followed()

    def work(requests):
        calls.append(list(requests))
        if len(calls) == 1:
            release.wait(10)
        if 2 in requests:
            group.hand_off(4, quick)  # handed off while the group of 2 runs: the handed-off thread runs it next
        if 4 in requests:
            fourth.set()
        return [r * 10 for r in requests]

    group = Group(work, shared=lambda e: False)
    with ThreadPoolExecutor(1) as pool:
        leader = leading(pool, group, 1, calls)
        group.hand_off(2, lambda share, error: unblock.wait(10))  # a slow follow-up (a channel call, say)
        release.set()
        assert leader.result(5) == 10
        assert fourth.wait(5)  # the handed-off thread runs the groups of 2 and 4 while 2 is followed up
        assert group(5) == 50  # the group is free for others while 2 is still followed up
        assert calls == [[1], [2], [4], [5]] and not quick.calls  # follow-ups in order: 4's waits for 2's
        unblock.set()
        assert quick.called.wait(10) and quick.calls[0][:2] == (40, None)


def test_a_follow_up_stopped_by_a_base_exception_stops_neither_the_group_nor_the_follow_ups_after_it(caplog):
    group, calls, release = slow_first_group()
    followed, later = Followed(), Followed()

    def interrupted(share, error):
        raise KeyboardInterrupt

    with ThreadPoolExecutor(1) as pool:
        first = leading(pool, group, 0, calls)
        group.hand_off(1, interrupted)
        group.hand_off(3, followed)  # in the same group as 1: its follow-up comes right after 1's
        queued(group, 2)
        release.set()
        assert first.result(10) == 0
    assert followed.called.wait(10) and followed.calls[0][:2] == (30, None)
    assert calls == [[0], [1, 3]] and "KeyboardInterrupt" in caplog.text
    assert group(2) == 20
    group.hand_off(4, later)
    assert later.called.wait(10) and later.calls[0][:2] == (40, None)


def test_a_base_exception_on_the_handed_off_thread_is_logged_and_the_requests_handed_off_after_it_still_run(caplog):
    calls, started, release = [], threading.Event(), threading.Event()

    def work(requests):
        calls.append(list(requests))
        if "stop" in requests:
            started.set()
            release.wait(10)
            raise SystemExit  # a bug or a stop, in a thread nobody waits for
        return [r.upper() for r in requests]

    group = Group(work, shared=lambda e: False)
    stopped, after = Followed(), Followed()
    group.hand_off("stop", stopped)
    assert started.wait(10)
    group.hand_off("next", after)  # waits for the stopped group
    release.set()
    assert after.called.wait(10) and after.calls[0][:2] == ("NEXT", None)
    (share, error, _), = stopped.calls
    assert share is None and isinstance(error, RuntimeError)  # its group ended before answering it
    assert calls == [["stop"], ["next"]] and "a group of handed-off requests was stopped" in caplog.text
    assert group("free") == "FREE"


def test_a_thread_stopped_by_a_base_exception_leaves_the_requests_handed_off_meanwhile_to_the_handed_off_thread():
    calls, release = [], threading.Event()
    followed = Followed()

    def work(requests):
        calls.append(list(requests))
        if 1 in requests:
            release.wait(10)
            raise KeyboardInterrupt  # the process is being stopped while this thread leads
        return [r * 10 for r in requests]

    group = Group(work, shared=lambda e: False)
    with ThreadPoolExecutor(1) as pool:
        leader = leading(pool, group, 1, calls)
        group.hand_off(2, followed)
        release.set()
        with pytest.raises(KeyboardInterrupt):
            leader.result(10)
    assert followed.called.wait(10) and followed.calls[0][:2] == (20, None)
    assert followed.calls[0][2].startswith("follow-up") and calls == [[1], [2]]


def test_under_load_follow_ups_run_once_each_in_the_order_their_groups_ran():
    groups, followed = [], []

    def work(requests):
        groups.append(list(requests))
        time.sleep(random.random() / 2000)
        return requests

    group = Group(work, shared=lambda e: False)

    def ask(n):
        for i in range(60):
            if i % 3:
                group.hand_off((n, i), lambda share, error: followed.append(share))
            else:
                group((n, i))

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(ask, range(16)))
    deadline = time.monotonic() + 10
    while len(followed) < 16 * 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    handed_off = [r for requests in groups for r in requests if r[1] % 3]
    assert followed == handed_off and len(followed) == 16 * 40  # each once, group by group
    assert max(map(len, groups)) > 1


def test_a_follow_up_thread_that_cannot_start_is_logged_and_the_group_goes_on_then_its_work_runs_once_it_starts(
        caplog):
    group = Group(lambda requests: requests, shared=lambda e: False)
    first, second = Followed(), Followed()
    follow_ups = group._threads["follow-up"] = ThreadPoolExecutor(1, thread_name_prefix="follow-up")

    def cannot_start():
        raise RuntimeError("can't start new thread")

    follow_ups._adjust_thread_count = cannot_start  # as when the process is out of threads
    assert group(0) == 0
    group.hand_off(1, first)
    deadline = time.monotonic() + 10
    while "could not start" not in caplog.text:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    assert group(2) == 2 and not first.calls  # the lead was passed on; the follow-up waits, queued
    del follow_ups._adjust_thread_count
    group.hand_off(3, second)
    assert second.called.wait(10) and [c[:2] for c in first.calls + second.calls] == [(1, None), (3, None)]

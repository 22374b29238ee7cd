"""The group commit (pipeline/engine/grouping.py) through its public interface: claim(ids) -> jobs and
record(results, then), with a stand-in for the transaction. The numbers are docs/group-commit.md's invariants."""

from __future__ import annotations

import gc
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from pipeline.core.models import AttemptOutcome, Delivery
from pipeline.core.models import DeliveryStatus as D
from pipeline.engine.claims import ClaimRequest, Committed, Job, Outcome, Result
from pipeline.engine.grouping import GroupCommit

ROOT = Path(__file__).resolve().parent.parent


class Outage(Exception):
    """Stands for the database being unreachable: every request would fail alike."""


def job(delivery_id: int) -> Job:
    return Job(Delivery(id=delivery_id), "token", delivery_id, False, "", "", None, None)


def result(delivery_id: int) -> Result:
    return Result(job(delivery_id), D.PUBLISHED, AttemptOutcome.PUBLISHED)


class Database:
    """A stand-in for claims.commit_batch: claims every id asked for, records every result; logs each batch (the ids
    of each request, claims as positive, records as negative numbers) and can be made to wait, fail or stop."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.batches: list[list[tuple[int, ...]]] = []
        self.threads: set[str] = set()
        self.rng = rng
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()
        self.fail: dict[int, BaseException] = {}  # a delivery id whose request makes the batch fail, and how

    def __call__(self, batch) -> Committed:
        self.batches.append([r.ids if isinstance(r, ClaimRequest) else tuple(-x.job.delivery.id for x in r.results)
                             for r in batch])
        self.threads.add(threading.current_thread().name)
        self.started.set()
        assert self.gate.wait(10)
        if self.rng is not None:
            time.sleep(self.rng.uniform(0, 0.002))
        for request in batch:
            ids = request.ids if isinstance(request, ClaimRequest) else [r.job.delivery.id for r in request.results]
            for i in ids:
                if i in self.fail:
                    raise self.fail[i]
        jobs, outcomes = {}, {}
        for request in batch:
            if isinstance(request, ClaimRequest):
                jobs[request] = [job(i) for i in sorted(request.ids)]
            else:
                outcomes[request] = [Outcome(r.job.delivery.id, str(r.status)) for r in request.results]
        return Committed(jobs=jobs, outcomes=outcomes)


def group_of(database: Database) -> GroupCommit:
    return GroupCommit(database, outage=lambda error: isinstance(error, Outage))


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.001)


def ids_of(jobs: list[Job]) -> list[int]:
    return [j.delivery.id for j in jobs]


def statuses(outcomes: list[Outcome]) -> list[tuple[int, str]]:
    return [(o.delivery_id, o.status) for o in outcomes]


class Callbacks:
    """record()'s callbacks: (delivery ids or the error, thread name) each, in the order called."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, str]] = []
        self.lock = threading.Lock()
        self.count = threading.Semaphore(0)

    def __call__(self, future: Future) -> None:
        answer = future.exception() or [o.delivery_id for o in future.result()]
        with self.lock:
            self.calls.append((answer, threading.current_thread().name))
        self.count.release()

    def wait(self, n: int) -> None:
        for _ in range(n):
            assert self.count.acquire(timeout=10), f"{len(self.calls)} callbacks, not {n}"


def held_first_batch(database: Database, group: GroupCommit, pool: ThreadPoolExecutor) -> Future:
    """A claim of delivery 1 whose batch is held until database.gate is set (the others queue meanwhile)."""
    database.gate.clear()
    first = pool.submit(group.claim, [1])
    assert database.started.wait(10)
    return first


def behind_a_held_batch(database: Database, group: GroupCommit, pool: ThreadPoolExecutor,
                        ask: Callable[[], list[Future]]) -> list[Future]:
    """The futures of what ask() asks while the first batch (a claim of delivery 1) is held: all in the next
    batch. The first batch's jobs are checked."""
    first = held_first_batch(database, group, pool)
    futures = ask()
    wait_until(lambda: group.waiting() == len(futures), f"{len(futures)} requests queued")
    database.gate.set()
    assert ids_of(first.result(10)) == [1]
    return futures


def test_requests_made_while_a_batch_runs_go_together_in_the_next_and_each_gets_its_own_answer():  # 1, 2
    database = Database()
    group = group_of(database)
    with ThreadPoolExecutor(4) as pool:
        *claims, recorded = behind_a_held_batch(database, group, pool, lambda: [
            *(pool.submit(group.claim, [i, i + 10]) for i in (2, 3)), group.record([result(7), result(8)])])
        assert [ids_of(c.result(10)) for c in claims] == [[2, 12], [3, 13]]
        assert statuses(recorded.result(10)) == [(7, "published"), (8, "published")]
    assert database.batches[0] == [(1,)] and sorted(database.batches[1]) == [(-7, -8), (2, 12), (3, 13)]
    assert database.threads == {"bookkeeper"}  # callers never run a batch (7)


def test_one_requests_bad_data_fails_only_that_request_each_rerun_alone():  # 3
    database = Database()
    database.fail[3] = ValueError("bad row")
    group = group_of(database)
    with ThreadPoolExecutor(4) as pool:
        good, bad, recorded = behind_a_held_batch(database, group, pool, lambda: [
            pool.submit(group.claim, [2]), pool.submit(group.claim, [3]), group.record([result(4)])])
        assert ids_of(good.result(10)) == [2]
        assert statuses(recorded.result(10)) == [(4, "published")]
        with pytest.raises(ValueError, match="bad row"):
            bad.result(10)
    assert sorted(map(tuple, database.batches[2:])) == [((-4,),), ((2,),), ((3,),)]  # together, then each alone


def test_an_outage_fails_every_request_of_its_batch_once_and_the_next_batch_runs():  # 3
    database = Database()
    database.fail[2] = Outage("database unreachable")
    group = group_of(database)
    with ThreadPoolExecutor(4) as pool:
        failing = behind_a_held_batch(database, group, pool, lambda: [
            pool.submit(group.claim, [2]), pool.submit(group.claim, [3]), group.record([result(4)])])
        for future in failing:
            with pytest.raises(Outage):
                future.result(10)
    assert len(database.batches) == 2  # not rerun one by one: they would fail alike
    assert ids_of(group.claim([5])) == [5]


def test_a_batch_stopped_by_a_base_exception_answers_each_of_its_requests_and_the_bookkeeper_goes_on(caplog):  # 2
    database = Database()
    database.fail[2] = SystemExit(3)
    group = group_of(database)
    callbacks = Callbacks()
    with ThreadPoolExecutor(2) as pool:
        stopped, _ = behind_a_held_batch(database, group, pool, lambda: [
            pool.submit(group.claim, [2]), group.record([result(6)], then=callbacks)])
        with pytest.raises(SystemExit):
            stopped.result(10)
    callbacks.wait(1)
    assert isinstance(callbacks.calls[0][0], SystemExit)  # its callback is told
    assert "a batch of 2 requests was stopped" in caplog.text
    assert ids_of(group.claim([7])) == [7]


def test_a_commit_that_leaves_a_request_unanswered_fails_the_batch_and_each_is_rerun_alone():  # 2
    database = Database()
    real = database.__call__

    def forgetful(batch):
        committed = real(batch)
        return Committed(jobs=dict(list(committed.jobs.items())[:1]), outcomes=committed.outcomes)

    group = GroupCommit(forgetful, outage=lambda error: False)
    with ThreadPoolExecutor(3) as pool:
        rest = behind_a_held_batch(database, group, pool, lambda: [pool.submit(group.claim, [i]) for i in (2, 3)])
        assert [ids_of(f.result(10)) for f in rest] == [[2], [3]]


def test_callbacks_run_after_their_batch_on_the_callback_thread_and_a_failing_one_is_only_logged(caplog):  # 6
    database = Database()
    group = group_of(database)
    callbacks = Callbacks()

    def broken(future: Future) -> None:
        raise RuntimeError("callback bug")

    with ThreadPoolExecutor(1) as pool:
        first = held_first_batch(database, group, pool)
        future = group.record([result(2)], then=callbacks)
        group.record([result(3)], then=broken)
        group.record([result(4)], then=callbacks)
        assert not future.done() and not callbacks.calls  # record() returns at once; nothing runs before its batch
        database.gate.set()
        first.result(10)
    callbacks.wait(2)
    assert callbacks.calls == [([2], "callback"), ([4], "callback")]
    assert "the callback of a record failed" in caplog.text and "callback bug" in caplog.text


def test_a_slow_callback_holds_up_no_batch():  # 6, 7
    database = Database()
    group = group_of(database)
    release, callbacks = threading.Event(), Callbacks()
    group.record([result(1)], then=lambda future: release.wait(10))
    group.record([result(2)], then=callbacks)
    assert ids_of(group.claim([3])) == [3]  # while the first callback still waits
    assert not callbacks.calls
    release.set()
    callbacks.wait(1)
    assert callbacks.calls == [([2], "callback")]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_many_threads_asking_at_random_each_get_their_own_answers_once_and_callbacks_keep_batch_order(seed):  # 1, 2, 6
    rng = random.Random(seed)
    database = Database(random.Random(seed + 100))
    group = group_of(database)
    callbacks = Callbacks()
    plans = [[(n * 100 + i + 1, rng.random() < 0.5, rng.uniform(0, 0.001)) for i in range(40)] for n in range(16)]

    def client(plan: list[tuple[int, bool, float]]) -> list[int]:
        claimed = []
        for delivery_id, hand_off, pause in plan:
            time.sleep(pause)
            if hand_off:
                group.record([result(delivery_id)], then=callbacks)
            else:
                claimed += ids_of(group.claim([delivery_id]))
        return claimed

    with ThreadPoolExecutor(16) as pool:
        claimed = list(pool.map(client, plans, timeout=60))
    handed_off = [d for plan in plans for d, hand_off, _ in plan if hand_off]
    callbacks.wait(len(handed_off))
    assert claimed == [[d for d, hand_off, _ in plan if not hand_off] for plan in plans]
    in_batch_order = [-d for batch in database.batches for request in batch for d in request if d < 0]
    assert [ids for ids, _ in callbacks.calls] == [[d] for d in in_batch_order]  # once each, batch by batch
    assert sorted(in_batch_order) == sorted(handed_off)
    assert max(map(len, database.batches)) > 1  # under load, batches of several


def test_records_and_callbacks_still_queued_when_the_process_exits_are_run_before_it_ends():  # 8
    script = """
import sys, threading, time
from tests.test_group_commit import Database, group_of, result
database = Database()
group = group_of(database)
database.gate.clear()
done = []
def later():
    database.started.wait(10)
    group.record([result(2)], then=lambda future: (time.sleep(0.2), done.append(future.result()[0].delivery_id),
                                                   print("called back", done, flush=True)))
threading.Thread(target=later).start()
group.record([result(1)])
threading.Timer(0.3, database.gate.set).start()
"""  # the main thread ends while the first batch is held and the second waits behind it
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}", "PATH": ""})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "called back [2]"


def test_a_request_made_after_close_runs_in_its_callers_thread():  # 8
    database = Database()
    group = group_of(database)
    assert ids_of(group.claim([1])) == [1]
    group.close()
    callbacks = Callbacks()
    assert ids_of(group.claim([2])) == [2]
    group.record([result(3)], then=callbacks)
    assert callbacks.calls == [([3], threading.current_thread().name)]
    assert database.threads == {"bookkeeper", threading.current_thread().name}


def test_a_group_commit_nobody_holds_any_more_ends_its_threads():
    """A test suite builds an engine per test: their threads (and the database pools they reach) must not pile up."""
    before = set(threading.enumerate())
    group = group_of(Database())
    group.record([result(1)], then=lambda future: None)
    claimed = group.claim([2])
    started = [thread for thread in threading.enumerate() if thread not in before]
    assert sorted(thread.name for thread in started) == ["bookkeeper", "callback"]
    del group
    assert ids_of(claimed) == [2]
    # the bookkeeper may still hold it for a moment after answering: collected once it lets go
    wait_until(lambda: gc.collect() is not None and not any(thread.is_alive() for thread in started),
               "the threads of a group commit nobody holds have ended")


def test_a_thread_that_cannot_start_fails_the_caller_and_the_group_commit_works_once_it_can(monkeypatch):  # 8
    group = group_of(Database())
    real_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        if thread.name == "callback":  # as when the process is out of threads
            raise RuntimeError("can't start new thread")
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        group.record([result(1)], then=lambda future: None)
    assert group.waiting() == 0  # nothing was queued that no thread would run
    monkeypatch.setattr(threading.Thread, "start", real_start)
    callbacks = Callbacks()
    group.record([result(2)], then=callbacks)
    callbacks.wait(1)
    assert callbacks.calls == [([2], "callback")]

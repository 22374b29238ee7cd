"""The working-day calendar and the reply clock around 春节 and 国庆, with 调休 working weekends."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import pytest

from pipeline.core.models import DisclosureRequest, RequestEvent
from pipeline.records.deadlines import ClockState, EventKind, clock_of
from pipeline.records.workdays import (
    PACKAGE,
    CalendarUnavailable,
    add_workdays,
    is_workday,
    known_years,
    workdays_between,
)


@pytest.mark.parametrize(("day", "working"), [
    (date(2020, 1, 19), True),    # Sunday: 调休 make-up day before the 2020 Spring Festival
    (date(2020, 1, 23), True),    # Thursday before the break
    (date(2020, 1, 24), False),   # 除夕
    (date(2020, 1, 31), False),   # the break extended by the State Council (COVID-19)
    (date(2020, 2, 1), False),    # Saturday first planned as a make-up day, then cancelled
    (date(2020, 2, 3), True),     # first working day after the extended break
    (date(2020, 9, 27), True),    # Sunday: 调休 for 国庆/中秋 2020
    (date(2020, 10, 8), False),   # last day of the eight-day break
    (date(2020, 10, 10), True),   # Saturday: 调休
    (date(2020, 10, 11), False),  # an ordinary Sunday
    (date(2021, 2, 7), True),     # Sunday: 调休 before the 2021 Spring Festival
    (date(2021, 2, 20), True),    # Saturday: 调休 after it
])
def test_workdays_know_holidays_and_make_up_days(day, working):
    assert is_workday(day) is working


def test_every_day_the_package_knows_is_read_as_the_package_itself_reads_it():
    first, last = known_years()
    day = date(first, 1, 1)
    while day.year <= last:
        assert is_workday(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


def test_twenty_working_days_across_the_2020_spring_festival():
    # received Friday 17 January 2020: counting starts the next day; Sunday the 19th is a make-up working
    # day (1), 20-23 January (2-5), the break 24 January - 2 February, then 3-21 February (6-20)
    assert add_workdays(date(2020, 1, 17), 20) == date(2020, 2, 21)
    assert workdays_between(date(2020, 1, 17), date(2020, 2, 21)) == 20


def test_twenty_working_days_across_national_day_2020_count_both_make_up_weekend_days():
    # received Friday 25 September: 27 Sep (Sun, 调休) 28, 29, 30 = 4; 9 Oct = 5, 10 Oct (Sat, 调休) = 6, ...
    assert add_workdays(date(2020, 9, 25), 6) == date(2020, 10, 10)
    assert add_workdays(date(2020, 9, 25), 20) == date(2020, 10, 29)


def test_a_receipt_on_a_holiday_counts_from_the_first_working_day_after_it():
    assert add_workdays(date(2020, 10, 3), 1) == date(2020, 10, 9)


def test_paused_days_do_not_count():
    # a consultation sent Monday 2 March 2020, answered Friday 13 March: the 9 working days after the letter
    # went out up to the answer (3-13 March) are not counted
    plain = add_workdays(date(2020, 3, 2), 20)
    paused = add_workdays(date(2020, 3, 2), 20, paused=[(date(2020, 3, 2), date(2020, 3, 13))])
    assert workdays_between(plain, paused) == 9


def test_years_without_holiday_data_are_refused_clearly():
    first, last = known_years()
    assert first <= 2019 and last >= 2025
    with pytest.raises(CalendarUnavailable, match=rf"no Chinese working-day calendar for {last + 1}.*knows "
                                                  rf"{first}-{last}"):
        is_workday(date(last + 1, 3, 2))
    with pytest.raises(CalendarUnavailable):
        add_workdays(date(last, 12, 20), 20)  # the period runs into the unknown year


def _request(received: date) -> DisclosureRequest:
    return DisclosureRequest(id=1, agency_id=1, received_on=received, channel="online",
                             applicant_type="natural_person", recorded_by="t")


def _event(kind: EventKind, on: date, **extra) -> RequestEvent:
    return RequestEvent(request_id=1, kind=kind, event_on=on, actor="t", **extra)


def test_clock_restarts_from_the_corrected_application():
    request = _request(date(2020, 1, 17))
    asked = _event(EventKind.CORRECTION_ASKED, date(2020, 1, 20), deadline=date(2020, 2, 14))
    stopped = clock_of(request, [asked], calendar=PACKAGE)
    assert (stopped.state, stopped.due_on, stopped.correction_deadline) == (
        ClockState.AWAITING_CORRECTION, None, date(2020, 2, 14))
    received = _event(EventKind.CORRECTION_RECEIVED, date(2020, 2, 5))
    restarted = clock_of(request, [asked, received], calendar=PACKAGE)
    assert restarted.starts_on == date(2020, 2, 5)
    assert restarted.due_on == add_workdays(date(2020, 2, 5), 20) == date(2020, 3, 4)


def test_extension_adds_working_days_and_consultation_pauses_the_clock():
    request = _request(date(2020, 9, 25))
    events = [_event(EventKind.CONSULTATION_STARTED, date(2020, 9, 28)),
              _event(EventKind.CONSULTATION_ENDED, date(2020, 10, 12)),
              _event(EventKind.EXTENDED, date(2020, 10, 20), days=20)]
    clock = clock_of(request, events, calendar=PACKAGE)
    # 29 Sep - 12 Oct hold 5 working days (29, 30 Sep; 9, 10 (Sat, 调休) and 12 Oct) that do not count
    assert clock.days == 40
    assert clock.due_on == add_workdays(date(2020, 9, 25), 45) == date(2020, 12, 3)
    assert clock_of(request, events[:1], calendar=PACKAGE).state == ClockState.PAUSED


def test_a_late_correction_notice_is_flagged():
    request = _request(date(2020, 1, 17))
    clock = clock_of(request, [_event(EventKind.CORRECTION_ASKED, date(2020, 2, 10))], calendar=PACKAGE)
    assert any("later than 7 working days" in w for w in clock.warnings)

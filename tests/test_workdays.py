"""The working-day calendar and the reply clock around 春节 and 国庆, with 调休 working weekends."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import pytest
from lunardate import LunarDate

from pipeline.core.models import DisclosureRequest, RequestEvent
from pipeline.records.deadlines import ClockState, EventKind, clock_of
from pipeline.records.workdays import (
    PACKAGE,
    CalendarUnavailable,
    WorkCalendar,
    add_workdays,
    is_workday,
    known_years,
    statutory_holidays,
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


# 2027 as a provisional year, whatever chinesecalendar release is installed (1.11.0 knows 2004-2026)
PROVISIONAL_2027 = WorkCalendar(package=(known_years()[0], 2026))


def test_a_provisional_deadline_skips_new_year_s_day():
    # from Thursday 10 December 2026: 11, 14-18, 21-25, 28-31 December are 15 working days; Friday 1 January 2027
    # is 元旦 (statutory every year) and does not count: Monday 4 to Friday 8 January are the 16th to 20th
    assert PROVISIONAL_2027.add_workdays(date(2026, 12, 10), 20) == date(2027, 1, 8)
    assert PROVISIONAL_2027.provisional_years(date(2026, 12, 10), date(2027, 1, 8)) == (2027,)
    assert PROVISIONAL_2027.workdays_between(date(2026, 12, 31), date(2027, 1, 4)) == 1


def test_a_provisional_deadline_skips_the_statutory_spring_festival():
    # 2027: 除夕 (腊月廿九) Friday 5 February, 正月初一 to 初三 Saturday 6 to Monday 8 February
    assert [PROVISIONAL_2027.is_workday(date(2027, 2, d)) for d in range(4, 10)] == [
        True, False, False, False, False, True]
    # from Wednesday 20 January: 21-22 January, 25-29 January, 1-4 February are 11; 5 and 8 February are holidays;
    # 9-12 February are the 12th to 15th and 15-19 February the 16th to 20th (the notice's 调休 is not known)
    assert PROVISIONAL_2027.add_workdays(date(2027, 1, 20), 20) == date(2027, 2, 19)


def test_statutory_holidays_of_2027_follow_the_2024_revision():
    assert statutory_holidays(2027) == {
        date(2027, 1, 1): "元旦",
        date(2027, 2, 5): "春节", date(2027, 2, 6): "春节", date(2027, 2, 7): "春节", date(2027, 2, 8): "春节",
        date(2027, 4, 5): "清明节",                                   # the 清明 solar term
        date(2027, 5, 1): "劳动节", date(2027, 5, 2): "劳动节",
        date(2027, 6, 9): "端午节",                                   # 五月初五
        date(2027, 9, 15): "中秋节",                                  # 八月十五
        date(2027, 10, 1): "国庆节", date(2027, 10, 2): "国庆节", date(2027, 10, 3): "国庆节"}


@pytest.mark.parametrize(("year", "eve", "lunar_day"), [
    (2021, date(2021, 2, 11), 30), (2023, date(2023, 1, 21), 30),   # a long 12th month: 除夕 is 腊月三十
    (2025, date(2025, 1, 28), 29), (2026, date(2026, 2, 16), 29)])  # a short one: 腊月廿九
# (not 2024: its eve, 9 February, was a working day in the package, as the 2013 version left 除夕 out)
def test_the_spring_festival_eve_is_the_last_day_of_the_twelfth_lunar_month(year, eve, lunar_day):
    spring = sorted(day for day, name in statutory_holidays(year).items() if name == "春节")
    assert spring[0] == eve
    lunar = LunarDate.from_solar_date(eve.year, eve.month, eve.day)
    assert (lunar.month, lunar.day) == (12, lunar_day)
    assert chinese_calendar.get_holiday_detail(eve) == (True, chinese_calendar.Holiday.spring_festival.value)


def _in_force(year: int, days: dict[date, str]) -> set[date]:
    """The days of the 2024 rule's list for `year` that the version of the 办法 in force that year also gave."""
    eve, first, second, third = sorted(day for day, name in days.items() if name == "春节")
    lunar_and_qingming = {day for day, name in days.items() if name in ("清明节", "端午节", "中秋节")}
    if year < 2008:        # 1999 version: 春节 初一-初三, no 清明, 端午, 中秋
        return set(days) - {eve} - lunar_and_qingming
    if year < 2014:        # 2007 revision: 春节 除夕-初二, 劳动节 1 May
        return set(days) - {third, date(year, 5, 2)}
    if year < 2025:        # 2013 revision: 春节 初一-初三, 劳动节 1 May
        return set(days) - {eve, date(year, 5, 2)}
    return set(days)       # 2024 revision (国务院令第795号), from 2025


def test_the_statutory_holidays_are_holidays_in_every_year_the_package_knows():
    """chinesecalendar's data is the oracle for the lunar dates (lunardate) and the 清明 solar term."""
    first, last = known_years()
    checked = 0
    for year in range(first, last + 1):
        for day in _in_force(year, statutory_holidays(year)):
            # the package leaves Saturday 23 June 2012 (端午 itself) out of the 端午 break of 22-24 June it lists
            assert day in chinese_calendar.holidays or day == date(2012, 6, 23), (year, day)
            checked += 1
    assert checked > 200


def test_a_year_beyond_the_lunar_calendar_is_refused_clearly():
    with pytest.raises(CalendarUnavailable, match="no lunar calendar for 2100.*calendar set 2100"):
        WorkCalendar().is_workday(date(2100, 1, 4))


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

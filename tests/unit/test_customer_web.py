"""The customer web app's pure parts: distances, trip references in URLs, the little map, and
its refusal to start without its secrets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from customer_web import create_app
from customer_web.accounts import normalise_email
from customer_web.data import Trip, distance_km, from_ref, map_view, trip_ref


def trip(start=(48.0, 11.0), end=(48.01, 11.02)) -> Trip:
    when = datetime(2026, 11, 3, 8, 15, 30, 123456, tzinfo=UTC)
    return Trip(7, when, when, 600.0, *start, *end)


def test_one_degree_of_latitude_is_about_111_km() -> None:
    assert distance_km(48.0, 11.0, 49.0, 11.0) == pytest.approx(111.2, abs=0.1)
    assert distance_km(48.0, 11.0, 48.0, 11.0) == 0.0


def test_a_trip_reference_names_its_start_to_the_microsecond() -> None:
    start = trip().start_time
    assert from_ref(trip_ref(start)) == start


def test_the_map_puts_north_up_and_east_right_inside_the_box() -> None:
    view = map_view(trip(start=(48.0, 11.0), end=(48.01, 11.02)))
    (x1, y1), (x2, y2) = view.start, view.end
    assert x2 > x1 and y2 < y1
    assert all(0 <= x <= view.width and 0 <= y <= view.height for x, y in (view.start, view.end))


def test_a_trip_that_ends_where_it_started_is_one_point_in_the_middle() -> None:
    view = map_view(trip(start=(48.0, 11.0), end=(48.0, 11.0)))
    assert view.start == view.end == (view.width / 2, view.height / 2)


def test_emails_match_whatever_their_case_and_surrounding_spaces() -> None:
    assert normalise_email("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"


def test_the_app_refuses_to_start_without_key_database_and_public_url(monkeypatch) -> None:
    for name in ("SECRET_KEY", "DSN", "PUBLIC_URL"):
        monkeypatch.delenv(f"HOVER_CUSTOMER_WEB_{name}", raising=False)
    with pytest.raises(RuntimeError, match="HOVER_CUSTOMER_WEB_SECRET_KEY.*_DSN.*_PUBLIC_URL"):
        create_app()

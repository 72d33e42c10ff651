"""Customer A tries every way into customer B's data; each attempt gets nothing and leaves a
security event in the app's log. Every response is checked for B's identifiers.

The app is built by its factory on a scratch warehouse (real PostgreSQL, read as the app's
role under row-level security) and sends its sign-in mails through the stack's real SMTP
catcher; the tests read the links from the caught mails.
"""

from __future__ import annotations

import logging
import mailbox
import os
import secrets
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer

from customer_web.accounts import LINK_SALT
from customer_web.data import trip_ref
from stack.process import wait_until
from tests.support.alerts import alerts_with
from tests.support.customer_web import (
    app_on_scratch_warehouse,
    link_path,
    make_customer,
    new_mail,
)

A, B = make_customer(1), make_customer(2)
TRIPS_A, TRIPS_B = 25, 3
SECURITY_LOG = "customer_web.security"
EMAIL_LIMIT, ADDRESS_LIMIT = 10, 15


class CheckedClient(FlaskClient):
    """A browser of customer A's: no response it ever gets may show anything of B's."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        body = response.get_data(as_text=True) + str(response.headers)
        leaked = [value for value in B.identifiers() if value in body]
        assert not leaked, f"{response.request.path} showed B's {leaked}"
        return response


@pytest.fixture(scope="module")
def web(stack_env):
    with app_on_scratch_warehouse(
            stack_env, [(B, TRIPS_B), (A, TRIPS_A)], PUBLIC_URL="https://customer.test",
            # A signs in a few times in this module; the limit test goes over it.
            SIGN_IN_LIMIT_PER_EMAIL=f"{EMAIL_LIMIT} per hour",
            SIGN_IN_LIMIT_PER_ADDRESS=f"{ADDRESS_LIMIT} per hour") as (app, admin_dsn, starts):
        app.test_client_class = CheckedClient
        app.extensions["test_admin_dsn"] = admin_dsn
        app.extensions["test_b_trip"] = (B.hoverboard_id, trip_ref(starts[B.id][0]))
        app.extensions["test_seen_mail"] = set(mailbox.Maildir(
            stack_env["HOVER_MAILDIR"], create=False).keys())
        yield app


def browser(app) -> FlaskClient:
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"  # cookies are Secure: TLS only
    return client


def csrf(client: FlaskClient, path: str = "/sign-in") -> str:
    page = client.get(path).get_data(as_text=True)
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def request_link(app, client: FlaskClient, email: str):
    return client.post("/sign-in", data={"email": email, "csrf_token": csrf(client)})


def caught_link(app, email: str) -> str:
    message = new_mail(os.environ["HOVER_MAILDIR"], email, app.extensions["test_seen_mail"])
    assert message is not None, f"no sign-in mail to {email} reached the SMTP catcher"
    return link_path(message)


def follow(client: FlaskClient, link: str):
    """Open the mailed link and press its button, as a customer does."""
    page = client.get(link)
    if page.status_code != 200:
        return page
    return client.post(link, data={"csrf_token": csrf(client, link)})


def signed_in_as_a(app) -> FlaskClient:
    client = browser(app)
    assert request_link(app, client, A.email).status_code == 200
    assert follow(client, caught_link(app, A.email)).status_code == 303
    return client


def events(caplog) -> list[str]:
    return [getattr(r, "security_event", None) for r in caplog.records if r.name == SECURITY_LOG]


def test_app_role_sees_only_the_customer_of_its_transaction(web) -> None:
    # The database alone, as if the app forgot every WHERE.
    with psycopg.connect(web.config["DSN"]) as conn:
        assert conn.execute("SELECT count(*) FROM fleet.trip").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM fleet.customer").fetchone()[0] == 0
        conn.execute("SELECT set_config('hover.customer_id', %s, true)", (str(A.id),))
        rows = conn.execute("SELECT * FROM fleet.trip").fetchall()
        customers = conn.execute("SELECT id FROM fleet.customer").fetchall()
        conn.commit()
        assert len(rows) == TRIPS_A and {r[1] for r in rows} == {A.id}
        assert customers == [(A.id,)]
        # SET LOCAL: the next transaction on the same connection sees nothing again.
        assert conn.execute("SELECT count(*) FROM fleet.trip").fetchone()[0] == 0
    # The owner (the sinks' role) still sees every row.
    with psycopg.connect(web.extensions["test_admin_dsn"]) as conn:
        assert conn.execute("SELECT count(*) FROM fleet.trip").fetchone()[0] == TRIPS_A + TRIPS_B


def test_a_signs_in_by_mail_and_sees_own_trips_profile_and_export(web) -> None:
    client = signed_in_as_a(web)
    cookie = client.get_cookie("hover_session")
    assert cookie.http_only and cookie.secure and cookie.same_site == "Lax"
    trips = client.get("/trips")
    assert trips.status_code == 200
    assert trips.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert trips.headers["X-Frame-Options"] == "DENY"
    assert trips.get_data(as_text=True).count("/trips/") == web.config["TRIPS_PER_PAGE"]
    # Newest first, paged: page 2 holds the rest.
    assert client.get("/trips?page=2").get_data(as_text=True).count("/trips/") == TRIPS_A - 20
    profile = client.get("/profile").get_data(as_text=True)
    assert A.email in profile and A.last_name in profile
    export = client.get("/export.json")
    assert "attachment" in export.headers["Content-Disposition"]
    body = export.get_json()
    assert body["profile"]["id"] == A.id and len(body["trips"]) == TRIPS_A
    assert sum(m["trips"] for m in body["monthly_totals"]) == TRIPS_A


def test_the_answer_to_a_link_request_does_not_tell_who_has_a_profile(web) -> None:
    client = browser(web)
    known = request_link(web, client, A.email)
    caught_link(web, A.email)
    unknown_address = f"nobody-{secrets.token_hex(4)}@example.com"
    unknown = request_link(web, client, unknown_address)
    assert (known.status_code, known.get_data()) == (unknown.status_code, unknown.get_data())
    assert new_mail(os.environ["HOVER_MAILDIR"], unknown_address, set(), timeout=1) is None


def test_b_trip_by_id_and_by_guessing_gives_nothing(web, caplog) -> None:
    client = signed_in_as_a(web)
    board, ref = web.extensions["test_b_trip"]
    caplog.set_level(logging.WARNING, logger=SECURITY_LOG)
    assert client.get(f"/trips/{board}/{ref}").status_code == 404
    for guess in (ref + 1, ref - 60_000_000, 0, 2**62):
        assert client.get(f"/trips/{board}/{guess}").status_code == 404
    assert events(caplog) == ["foreign_trip"] * 5
    export = client.get("/export.json").get_json()  # checked for B's identifiers too
    assert {t["hoverboard_id"] for t in export["trips"]} == {A.hoverboard_id}


def test_replayed_expired_and_forged_links_sign_nobody_in(web, caplog) -> None:
    started = datetime.now(UTC).isoformat()
    accounts = web.extensions["hover_accounts"]
    client = browser(web)
    request_link(web, client, A.email)
    link = caught_link(web, A.email)
    assert follow(client, link).status_code == 303
    caplog.set_level(logging.WARNING, logger=SECURITY_LOG)
    intruder = browser(web)
    assert follow(intruder, link).status_code == 400  # replayed
    expired = accounts.issue_link(B.email, now=datetime.now(UTC) - timedelta(minutes=16))
    assert follow(intruder, f"/sign-in/{expired}").status_code == 400
    # A link for B, signed with a key that is not the app's, and B's real link edited.
    forged = URLSafeTimedSerializer("not-the-key", salt=LINK_SALT).dumps("x" * 43)
    assert follow(intruder, f"/sign-in/{forged}").status_code == 400
    real_b = accounts.issue_link(B.email)
    tampered = real_b[:-3] + ("AAA" if not real_b.endswith("AAA") else "BBB")
    assert follow(intruder, f"/sign-in/{tampered}").status_code == 400
    assert events(caplog) == ["link_used_or_expired", "link_used_or_expired",
                              "link_tampered", "link_tampered"]
    assert intruder.get("/trips").status_code == 303  # still nobody
    # The tampered link is an alert in Elasticsearch too, in the platform's format, and
    # names nobody.
    def alerted() -> list[dict]:
        return [a for a in alerts_with(os.environ["HOVER_ELASTICSEARCH_URL"], "link tampered")
                if a["service"]["name"] == "customer_web" and a["@timestamp"] >= started]
    assert wait_until(lambda: bool(alerted()), 30, 0.5), "no link_tampered alert arrived"
    assert not [v for v in (*A.identifiers(), *B.identifiers()) if v in str(alerted())]


def test_forged_tampered_and_signed_out_sessions_give_nothing(web, caplog) -> None:
    phone, laptop = signed_in_as_a(web), signed_in_as_a(web)
    session_id = laptop.get_cookie("hover_session").value
    caplog.set_level(logging.WARNING, logger=SECURITY_LOG)
    for value in (secrets.token_urlsafe(32), session_id[:-2] + "xy"):
        stranger = browser(web)
        stranger.set_cookie("hover_session", value, domain="localhost")
        assert stranger.get("/export.json").status_code == 303
    # Sign out everywhere on the phone ends the laptop's session too.
    signed_out = phone.post("/sign-out", data={"csrf_token": csrf(phone, "/trips")})
    assert signed_out.status_code == 303
    assert laptop.get("/trips").status_code == 303
    replay = browser(web)
    replay.set_cookie("hover_session", session_id, domain="localhost")
    assert replay.get("/export.json").status_code == 303
    assert events(caplog) == ["session_refused"] * 4


def test_sign_in_rotates_the_session(web) -> None:
    client = signed_in_as_a(web)
    before = client.get_cookie("hover_session").value
    request_link(web, browser(web), A.email)  # asked for elsewhere, opened here
    assert follow(client, caught_link(web, A.email)).status_code == 303
    after = client.get_cookie("hover_session").value
    assert after != before
    stale = browser(web)
    stale.set_cookie("hover_session", before, domain="localhost")
    assert stale.get("/trips").status_code == 303


def test_forms_without_csrf_token_are_refused(web, caplog) -> None:
    client = signed_in_as_a(web)
    caplog.set_level(logging.WARNING, logger=SECURITY_LOG)
    assert client.post("/sign-out").status_code == 400  # e.g. a cross-site form
    assert client.post("/sign-in", data={"email": B.email}).status_code == 400
    assert client.get("/trips").status_code == 200  # still signed in: nothing happened
    assert events(caplog) == ["csrf_rejected", "csrf_rejected"]


def test_sign_in_requests_are_rate_limited_per_email_and_per_address(web, caplog) -> None:
    caplog.set_level(logging.WARNING, logger=SECURITY_LOG)
    one_address = browser(web)
    one_address.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    target = f"limit-{secrets.token_hex(4)}@example.com"
    statuses = [request_link(web, one_address, target).status_code
                for _ in range(EMAIL_LIMIT + 1)]
    assert statuses == [200] * EMAIL_LIMIT + [429]
    spray = browser(web)
    spray.environ_base["REMOTE_ADDR"] = "198.51.100.8"
    statuses = [request_link(web, spray, f"spray-{n}-{secrets.token_hex(3)}@example.com")
                .status_code for n in range(ADDRESS_LIMIT + 1)]
    assert statuses == [200] * ADDRESS_LIMIT + [429]
    assert events(caplog) == ["rate_limited", "rate_limited"]

"""The customer's view in a real browser (Debian's Chromium driven by Playwright): ask for a
link, open it from the mail the stack's SMTP catcher caught, see the trips and one trip's
map, download the export. The app comes from its factory on a scratch warehouse, served over
real HTTP; the stack's own instance is checked behind its NGINX entry point. Screenshots in
docs/ (for the README) are rewritten only with HOVER_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import json
import mailbox
import os
import threading

import pytest
import requests
from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

from tests.stack.test_airflow_ui import CHROMIUM, CHROMIUM_ARGS, screenshot
from tests.support.customer_web import (
    app_on_scratch_warehouse,
    link_path,
    make_customer,
    new_mail,
)

CUSTOMER = make_customer(3)
TRIPS = 8


@pytest.fixture(scope="module")
def served(stack_env):
    with app_on_scratch_warehouse(stack_env, [(CUSTOMER, TRIPS)],
                                  PUBLIC_URL="http://placeholder",
                                  SESSION_COOKIE_SECURE=False) as (app, _, _starts):
        server = make_server("127.0.0.1", 0, app, threaded=True)
        url = f"http://127.0.0.1:{server.server_port}"
        app.config["PUBLIC_URL"] = url
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield url
        finally:
            server.shutdown()


def test_a_customer_signs_in_from_the_mail_and_downloads_the_export(served, tmp_path) -> None:
    maildir = os.environ["HOVER_MAILDIR"]
    seen = set(mailbox.Maildir(maildir, create=False).keys())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 800}, accept_downloads=True)
        page.set_default_timeout(30_000)
        try:
            page.goto(f"{served}/trips")  # not signed in: the sign-in page
            page.get_by_label("Email").fill(CUSTOMER.email)
            page.get_by_role("button", name="Send me a sign-in link").click()
            expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()
            message = new_mail(maildir, CUSTOMER.email, seen)
            assert message is not None, "the sign-in mail never reached the SMTP catcher"
            page.goto(served + link_path(message))
            page.get_by_role("button", name="Sign in to Hoverboard").click()
            expect(page.get_by_role("heading", name="Your trips")).to_be_visible()
            expect(page.locator("tbody tr")).to_have_count(TRIPS)
            screenshot(page, "customer-web-trips.png")
            page.locator("tbody tr a").first.click()
            expect(page.locator("svg.map circle")).to_have_count(2)
            screenshot(page, "customer-web-trip.png")
            with page.expect_download() as download:
                page.get_by_role("link", name="Download my data").click()
            saved = tmp_path / "export.json"
            download.value.save_as(saved)
            export = json.loads(saved.read_text())
            assert export["profile"]["email"] == CUSTOMER.email
            assert len(export["trips"]) == TRIPS
        finally:
            browser.close()


def test_the_stack_serves_the_app_behind_its_own_nginx_port(stack_env) -> None:
    url = stack_env["HOVER_CUSTOMER_WEB_URL"]
    page = requests.get(f"{url}/sign-in", timeout=10)
    assert page.status_code == 200 and "Send me a sign-in link" in page.text
    assert page.headers["X-Frame-Options"] == "DENY"
    assert requests.get(f"{url}/ready", timeout=10).status_code == 404  # not from outside

"""The operator's view, in a real browser (Debian's Chromium driven by Playwright) against the
stack's running Airflow: log in, every platform DAG listed with no import error, trigger
data_quality on a warehouse database of the test's own, see the run succeed. The screenshots
in docs/ (for the README) are rewritten only when asked: HOVER_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests
from playwright.sync_api import Page, expect, sync_playwright

from runtime.settings import warehouse_dsn
from stack.process import wait_until
from tests.support import scratch_database, warehouse_connection
from tests.support.quality import SEED

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
PLATFORM_DAGS = sorted(p.stem for p in (REPO / "dags").glob("*.py"))
CHROMIUM = os.environ.get("HOVER_CHROMIUM", "/usr/bin/chromium")
UPDATE_SCREENSHOTS = os.environ.get("HOVER_UPDATE_SCREENSHOTS") == "1"
# No network beyond this machine: background services of Chromium would only fail.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="module")
def browser_page():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(30_000)
        yield page
        browser.close()


@pytest.fixture(scope="module")
def api(stack_env) -> requests.Session:
    session = requests.Session()
    token = session.post(f"{stack_env['HOVER_AIRFLOW_URL']}/auth/token", json={
        "username": stack_env["HOVER_AIRFLOW_USER"],
        "password": stack_env["HOVER_AIRFLOW_PASSWORD"]}, timeout=30).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    return session


@pytest.fixture(scope="module")
def own_warehouse(stack_env, api) -> Iterator[str]:
    """A migrated database of this test's own holding a little fresh, consistent data, behind
    an Airflow connection made for it; its connection id. The stack's warehouse is not
    touched."""
    url = stack_env["HOVER_AIRFLOW_URL"]
    conn_id = f"warehouse_uitest_{uuid.uuid4().hex[:8]}"
    with scratch_database(warehouse_dsn(stack_env), "uitest") as dsn:
        with psycopg.connect(dsn) as conn:
            conn.execute(SEED)
        fields = json.loads(warehouse_connection(stack_env, dsn))
        if isinstance(fields.get("extra"), dict):
            fields["extra"] = json.dumps(fields["extra"])
        created = api.post(f"{url}/api/v2/connections", timeout=30,
                           json={"connection_id": conn_id, **fields})
        assert created.status_code == 201, created.text
        try:
            yield conn_id
        finally:
            api.delete(f"{url}/api/v2/connections/{conn_id}", timeout=30)


def screenshot(page: Page, name: str) -> None:
    if UPDATE_SCREENSHOTS:
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / name))


def log_in(page: Page, env: dict[str, str]) -> None:
    page.goto(env["HOVER_AIRFLOW_URL"])
    page.get_by_label("Username").fill(env["HOVER_AIRFLOW_USER"])
    page.get_by_label("Password").fill(env["HOVER_AIRFLOW_PASSWORD"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


def test_every_platform_dag_is_listed_without_import_errors(browser_page, stack_env,
                                                            api) -> None:
    url = stack_env["HOVER_AIRFLOW_URL"]
    # The DAG processor parses the folder on its own schedule: wait until it has.
    assert wait_until(lambda: set(PLATFORM_DAGS) <= {
        d["dag_id"] for d in api.get(f"{url}/api/v2/dags", params={"limit": 100},
                                     timeout=30).json()["dags"]}, 180)
    log_in(browser_page, stack_env)
    browser_page.goto(f"{url}/dags")
    for dag_id in PLATFORM_DAGS:
        expect(browser_page.get_by_role("link", name=dag_id, exact=True).first).to_be_visible()
    # No "Dag Import Errors" banner, and the API agrees.
    expect(browser_page.get_by_text("Dag Import Errors")).to_have_count(0)
    assert api.get(f"{url}/api/v2/importErrors", timeout=30).json()["total_entries"] == 0
    screenshot(browser_page, "airflow-dags.png")


def test_trigger_data_quality_and_see_it_succeed(browser_page, stack_env, api,
                                                 own_warehouse, request) -> None:
    url = stack_env["HOVER_AIRFLOW_URL"]
    page = browser_page
    page.goto(f"{url}/dags/data_quality")
    before = {r["dag_run_id"] for r in api.get(
        f"{url}/api/v2/dags/data_quality/dagRuns", timeout=30).json()["dag_runs"]}
    toggle = page.get_by_test_id("toggle-pause")
    if toggle.get_attribute("data-state") != "checked":
        toggle.click()  # unpause: a paused DAG's runs are never scheduled
        expect(toggle).to_have_attribute("data-state", "checked")
    # Paused again afterwards: other tests run this DAG with `airflow dags test`, and the
    # stack's scheduler must not pick up their task instances.
    request.addfinalizer(lambda: api.patch(f"{url}/api/v2/dags/data_quality",
                                           json={"is_paused": True}, timeout=30))
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    # The run parameter's field (its label is not tied to the input: found by its group).
    dialog.get_by_role("group").filter(has_text="warehouse_conn_id").get_by_role(
        "textbox").fill(own_warehouse)
    dialog.get_by_role("button", name="Trigger").click()

    def new_run() -> dict | None:
        runs = api.get(f"{url}/api/v2/dags/data_quality/dagRuns", timeout=30).json()
        # Unpausing may also schedule the latest interval: the run we want is the manual one.
        fresh = [r for r in runs["dag_runs"]
                 if r["dag_run_id"] not in before and r["run_type"] == "manual"]
        return fresh[0] if fresh else None

    assert wait_until(lambda: new_run() is not None, 60), "the UI did not create a run"
    assert wait_until(lambda: new_run()["state"] in ("success", "failed"), 300)
    run = new_run()
    assert run["state"] == "success", run
    assert run["conf"]["warehouse_conn_id"] == own_warehouse
    page.goto(f"{url}/dags/data_quality/runs/{run['dag_run_id']}")
    expect(page.get_by_text("success").first).to_be_visible(timeout=30_000)
    screenshot(page, "airflow-data-quality-run.png")

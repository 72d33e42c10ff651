"""The operator's view, in a real browser (Debian's Chromium driven by Playwright) against the
stack's running Airflow: log in, every platform DAG listed with no import error, trigger
data_quality, see the run succeed. Screenshots are kept in docs/ for the README."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest
import requests
from hoverboard.warehouse.migrations import MigrationRunner
from playwright.sync_api import Page, expect, sync_playwright

from stack.process import wait_until
from tests.support.quality import SEED

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
PLATFORM_DAGS = sorted(p.stem for p in (REPO / "dags").glob("*.py"))
CHROMIUM = os.environ.get("HOVER_CHROMIUM", "/usr/bin/chromium")
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
def fresh_warehouse(stack_env) -> None:
    """The stack's warehouse migrated and holding a little fresh, consistent data, so
    data_quality has something to pass on. The running Airflow checks the stack's own
    warehouse: on a developer's stack holding half-loaded data (trips whose customers are not
    loaded yet), data_quality rightly fails; `bin/stack reset` gives a clean one, as in CI."""
    dsn = stack_env["HOVER_WAREHOUSE_DSN"]
    MigrationRunner(lambda: psycopg.connect(dsn), "postgres").migrate()
    with psycopg.connect(dsn) as conn:
        conn.execute("DELETE FROM fleet.customer WHERE id BETWEEN 1 AND 5")
        conn.execute(SEED)


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
    DOCS.mkdir(exist_ok=True)
    browser_page.screenshot(path=str(DOCS / "airflow-dags.png"))


def test_trigger_data_quality_and_see_it_succeed(browser_page, stack_env, api,
                                                 fresh_warehouse, request) -> None:
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
    page.goto(f"{url}/dags/data_quality/runs/{run['dag_run_id']}")
    expect(page.get_by_text("success").first).to_be_visible()
    page.screenshot(path=str(DOCS / "airflow-data-quality-run.png"))

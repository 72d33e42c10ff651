"""Superset as the stack runs it, with the dashboards of analytics/superset.

Numbers: the bundle is imported once more pointing at a warehouse of the test's own, seeded
with known rows; every chart's stored query (chart data API) must give what the same
figure gives in SQL; afterwards the bundle points at the stack's warehouse again.
Access: an Analyst cannot open the operations dashboard nor read customers' personal
columns (chart API, SQL Lab); a user without a role sees nothing. Import: a second import
changes nothing, a broken bundle fails naming the file. Browser: each dashboard opens in
Chromium with every chart drawn and none failed (screenshots with HOVER_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import math
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import yaml

from runtime.settings import warehouse_dsn
from stack.services.superset import Superset
from stack.superset_bundle import BUNDLE_DIR, BundleError, load, login
from tests.support import scratch_database
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, screenshot

CHARTS = {p.stem: yaml.safe_load(p.read_text()) for p in (BUNDLE_DIR / "charts").glob("*.yaml")}

#: Known rows (see the file): boards, customers, trips and the platform's bookkeeping.
SEED = (Path(__file__).resolve().parents[1] / "support" / "superset_seed.sql").read_text()


#: Each chart's figure, computed in SQL on the seeded warehouse, in the chart's row order
#: (columns in the chart's order). Times come back from Superset as epoch milliseconds.
EXPECTED_SQL = {
    "boards_reporting": "SELECT count(*) FROM operations.board_status"
                        " WHERE minutes_since_report <= 10",
    "trips_per_hour": "SELECT date_trunc('hour', start_time), count(*) FROM fleet.trip"
                      " GROUP BY 1 ORDER BY 1",
    "charge_distribution": "SELECT floor(charge / 10) * 10, count(*) FROM ("
                           "SELECT DISTINCT ON (id) id, charge FROM fleet.hoverboard"
                           " ORDER BY id, event_time DESC) b GROUP BY 1 ORDER BY 1",
    "temperature_distribution": "SELECT floor(temperature / 5) * 5, count(*) FROM ("
                                "SELECT DISTINCT ON (id) id, temperature FROM fleet.hoverboard"
                                " ORDER BY id, event_time DESC) b GROUP BY 1 ORDER BY 1",
    "board_positions": "SELECT DISTINCT ON (id) id, latitude, longitude, charge, temperature,"
                       " isdocked, event_time FROM fleet.hoverboard ORDER BY id, event_time DESC",
    "unhealthy_boards": "SELECT id, CASE WHEN event_time < now() - interval '10 minutes'"
                        " THEN 'no report for 10 min' WHEN charge < 20 THEN 'low charge'"
                        " ELSE 'high temperature' END, charge, temperature,"
                        " extract(epoch FROM now() - event_time) / 60 FROM ("
                        "SELECT DISTINCT ON (id) * FROM fleet.hoverboard"
                        " ORDER BY id, event_time DESC) b"
                        " WHERE event_time < now() - interval '10 minutes' OR charge < 20"
                        " OR temperature > 45 ORDER BY id",
    "load_rate": "SELECT date_trunc('minute', loaded_at), t, count(*) FROM ("
                 "SELECT loaded_at, 'fleet.hoverboard' t FROM fleet.hoverboard UNION ALL "
                 "SELECT loaded_at, 'fleet.customer' FROM fleet.customer UNION ALL "
                 "SELECT loaded_at, 'fleet.trip' FROM fleet.trip) l GROUP BY 1, 2",
    "freshness": "SELECT t, count(*), avg(extract(epoch FROM loaded_at - received_at)),"
                 " max(extract(epoch FROM loaded_at - e)), max(loaded_at) FROM ("
                 "SELECT 'fleet.hoverboard' t, event_time e, received_at, loaded_at"
                 " FROM fleet.hoverboard UNION ALL SELECT 'fleet.customer', updated_at,"
                 " received_at, loaded_at FROM fleet.customer UNION ALL SELECT 'fleet.trip',"
                 " end_time, received_at, loaded_at FROM fleet.trip) l"
                 " GROUP BY 1 ORDER BY 2 DESC",
    "sink_lag": "SELECT query_name, max(batch_time), extract(epoch FROM now() - max(batch_time)),"
                " sum(rows_written) FROM platform.stream_progress GROUP BY 1 ORDER BY 3 DESC",
    "dead_letters_per_hour": "SELECT date_trunc('hour', loaded_at), count(*)"
                             " FROM platform.dead_letters GROUP BY 1 ORDER BY 1",
    "dead_letter_reasons": "SELECT query_name, error, count(*) FROM platform.dead_letters"
                           " GROUP BY 1, 2 ORDER BY 3 DESC",
    "dq_results": "SELECT checked_at, check_name, table_name, observed, min_allowed,"
                  " max_allowed, passed FROM platform.dq_results ORDER BY checked_at DESC,"
                  " check_name",
    "backups": "SELECT table_name, max(verified_at) FILTER (WHERE verified), count(*)"
               " FROM platform.backup_catalog GROUP BY 1 ORDER BY 2 DESC NULLS LAST",
    "trips_total": "SELECT count(*) FROM fleet.trip",
    "returning_customers": "SELECT count(DISTINCT customer_id) FILTER (WHERE n > 1) * 1.0"
                           " / count(DISTINCT customer_id) FROM (SELECT customer_id,"
                           " row_number() OVER (PARTITION BY customer_id ORDER BY start_time) n"
                           " FROM fleet.trip) t",
    "trips_per_day": "SELECT date_trunc('day', start_time), count(*) FROM fleet.trip"
                     " GROUP BY 1 ORDER BY 1",
    "trip_duration": "SELECT floor(trip_duration / 60 / 5) * 5, count(*) FROM fleet.trip"
                     " GROUP BY 1 ORDER BY 1",
    "trip_distance": "SELECT floor(2 * 6371 * asin(sqrt(power(sin(radians(end_latitude"
                     " - start_latitude) / 2), 2) + cos(radians(start_latitude))"
                     " * cos(radians(end_latitude)) * power(sin(radians(end_longitude"
                     " - start_longitude) / 2), 2)))), count(*) FROM fleet.trip"
                     " GROUP BY 1 ORDER BY 1",
    "start_areas": "SELECT to_char(start_latitude, 'FM990.00') || ', '"
                   " || to_char(start_longitude, 'FM990.00'), count(*) FROM fleet.trip"
                   " GROUP BY 1 ORDER BY 2 DESC, 1",
    "utilisation": "SELECT hoverboard_id, count(*), sum(trip_duration) / 3600,"
                   " avg(trip_duration / 60) FROM fleet.trip GROUP BY 1 ORDER BY 3 DESC",
    "home_areas": "SELECT round(latitude::numeric, 2), round(longitude::numeric, 2), count(*)"
                  " FROM fleet.customer GROUP BY 1, 2",
}
#: Charts whose order among equal values is not defined: compared as sets of rows.
UNORDERED = {"home_areas", "load_rate", "dead_letter_reasons", "start_areas", "freshness",
             "backups",
             "charge_distribution", "temperature_distribution", "trip_duration",
             "trip_distance", "trips_per_hour", "trips_per_day", "dead_letters_per_hour",
             "utilisation", "sink_lag"}
#: Columns measured against now(), with their tolerance: the two queries run moments apart
#: (minutes since a board's report, seconds since a sink's last batch).
NOW_RELATIVE = {("unhealthy_boards", 4): 1.0, ("sink_lag", 2): 60.0}


def normalise(value):
    """One form for both sides: times as epoch milliseconds, numbers as rounded floats."""
    if isinstance(value, datetime):
        value = value.timestamp() * 1000
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | float | int) and not isinstance(value, bool):
        return round(float(value), 6)
    return value


@pytest.fixture(scope="module")
def superset(stack) -> Superset:
    return stack.services["superset"]


@pytest.fixture(scope="module")
def admin(superset: Superset):
    return login(superset.url, "admin", superset.secrets.superset_admin_password)


@pytest.fixture(scope="module")
def seeded(superset: Superset, stack_env, admin) -> Iterator[str]:
    """The bundle imported against a seeded warehouse of this module's own (once: seeding
    and importing take Superset half a minute); its DSN. The stack's warehouse is imported
    again afterwards."""
    bundle = load()
    with scratch_database(warehouse_dsn(stack_env), "superset") as dsn:
        with psycopg.connect(dsn) as conn:
            conn.execute(SEED)
        superset.import_bundle(bundle, dsn)
        try:
            yield dsn
        finally:
            superset.import_bundle(bundle, superset.postgres.dsn("warehouse"))


def chart_ids(session, url: str) -> dict[str, int]:
    """Chart file stem -> the chart's id in Superset."""
    listed = session.get(f"{url}/api/v1/chart/", params={
        "q": "(columns:!(id,uuid),page_size:100)"}, timeout=60).json()["result"]
    by_uuid = {str(c["uuid"]): c["id"] for c in listed}
    return {stem: by_uuid[chart["uuid"]] for stem, chart in CHARTS.items()
            if chart["uuid"] in by_uuid}


def test_every_chart_shows_the_figure_sql_gives(superset, admin, seeded) -> None:
    assert set(EXPECTED_SQL) == set(CHARTS), "each chart of the bundle needs its SQL here"
    ids = chart_ids(admin, superset.url)
    with psycopg.connect(seeded) as conn:
        for stem, query in EXPECTED_SQL.items():
            # force: a result cache, where a deployment configures one, must not answer.
            response = admin.get(f"{superset.url}/api/v1/chart/{ids[stem]}/data/",
                                 params={"force": "true"}, timeout=120)
            assert response.status_code == 200, f"{stem}: {response.text[:500]}"
            [result] = response.json()["result"]
            got = [[normalise(v) for v in row.values()] for row in result["data"]]
            want = [[normalise(v) for v in row] for row in conn.execute(query).fetchall()]
            assert want, f"{stem}: the seed gives this chart nothing to show"
            for (chart, column), tolerance in NOW_RELATIVE.items():
                for g, w in zip(got, want, strict=False) if chart == stem else ():
                    assert math.isclose(g[column], w[column], abs_tol=tolerance), (stem, g, w)
                    g[column] = w[column]
            if stem in UNORDERED:
                got, want = sorted(map(repr, got)), sorted(map(repr, want))
            assert got == want, f"{stem}: Superset {got} != SQL {want}"


def create_user(admin, url: str, role: str) -> tuple[str, str]:
    found = admin.get(f"{url}/api/v1/security/roles/", params={
        "q": f"(filters:!((col:name,opr:eq,value:{role})))"}, timeout=60).json()["result"]
    name, password = f"test_{role.lower()}_{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    created = admin.post(f"{url}/api/v1/security/users/", json={
        "first_name": "Test", "last_name": role, "username": name,
        "email": f"{name}@example.invalid", "active": True, "roles": [found[0]["id"]],
        "password": password}, timeout=60)
    assert created.status_code == 201, created.text
    return name, password


def database_id(admin, url: str, name: str) -> int:
    found = admin.get(f"{url}/api/v1/database/", params={
        "q": f"(filters:!((col:database_name,opr:eq,value:'{name}')))"}, timeout=60).json()
    return found["result"][0]["id"]


def test_an_analyst_sees_trips_but_no_operations_and_no_personal_data(superset, admin) -> None:
    url = superset.url
    analyst = login(url, *create_user(admin, url, "Analyst"))
    assert analyst.get(f"{url}/api/v1/dashboard/trips-and-customers", timeout=60).ok
    assert analyst.get(f"{url}/api/v1/dashboard/fleet-operations",
                       timeout=60).status_code in (403, 404)
    ids = chart_ids(admin, url)
    assert analyst.get(f"{url}/api/v1/chart/{ids['trips_total']}/data/", timeout=60).ok
    assert analyst.get(f"{url}/api/v1/chart/{ids['board_positions']}/data/",
                       timeout=60).status_code in (403, 404)
    # Personal columns through a chart query on the analysts' own dataset...
    trips = CHARTS["trips_total"]
    query = yaml.safe_load(trips["query_context"])
    query["queries"][0]["columns"] = [{"expressionType": "SQL", "label": "who",
                                       "sqlExpression": "(SELECT max(email) FROM fleet.customer)"}]
    response = analyst.post(f"{url}/api/v1/chart/data", json={
        **query, "datasource": {"id": analyst_dataset_id(admin, url), "type": "table"}},
        timeout=60)
    assert response.status_code >= 400 and "example.invalid" not in response.text
    # ...and through SQL Lab on the analysts' database.
    ran = analyst.post(f"{url}/api/v1/sqllab/execute/", json={
        "database_id": database_id(admin, url, "Warehouse analytics"), "runAsync": False,
        "sql": "SELECT first_name, email FROM fleet.customer", "schema": "analytics"},
        timeout=60)
    assert ran.status_code >= 400 and "permission denied" in ran.text, ran.text
    ops = analyst.post(f"{url}/api/v1/sqllab/execute/", json={
        "database_id": database_id(admin, url, "Warehouse operations"), "runAsync": False,
        "sql": "SELECT 1"}, timeout=60)
    # Superset answers as if the database did not exist (its status varies by version).
    assert ops.status_code >= 400 and "data" not in ops.json(), ops.text


def analyst_dataset_id(admin, url: str) -> int:
    trips = yaml.safe_load((BUNDLE_DIR / "datasets/analytics/trips.yaml").read_text())
    listed = admin.get(f"{url}/api/v1/dataset/", params={
        "q": "(columns:!(id,uuid),page_size:100)"}, timeout=60).json()["result"]
    return next(d["id"] for d in listed if str(d["uuid"]) == trips["uuid"])


def test_a_user_without_a_role_sees_nothing(superset, admin) -> None:
    url = superset.url
    # Superset wants a role on every user: Public, which grants nothing here.
    nobody = login(url, *create_user(admin, url, "Public"))
    for kind in ("dashboard", "chart", "dataset"):
        listed = nobody.get(f"{url}/api/v1/{kind}/", timeout=60)
        assert listed.status_code in (401, 403) or listed.json()["count"] == 0, listed.text
    ids = chart_ids(admin, url)
    assert nobody.get(f"{url}/api/v1/chart/{ids['trips_total']}/data/",
                      timeout=60).status_code in (401, 403, 404)


def test_a_second_import_changes_nothing(superset, admin, seeded) -> None:
    url = superset.url

    def snapshot() -> dict:
        found = {}
        for kind in ("dashboard", "chart", "dataset", "database"):
            listed = admin.get(f"{url}/api/v1/{kind}/", params={
                "q": "(page_size:100)"}, timeout=60).json()["result"]
            found[kind] = sorted((r["id"], str(r.get("uuid"))) for r in listed)
        export = admin.get(f"{url}/api/v1/dashboard/export/", params={
            "q": f"!({','.join(str(i) for i, _ in found['dashboard'])})"}, timeout=60)
        found["export"] = export_contents(export.content)
        return found

    before = snapshot()
    superset.import_bundle(load(), seeded)
    assert snapshot() == before


def export_contents(zipped: bytes) -> dict[str, str]:
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        return {n.split("/", 1)[1]: archive.read(n).decode() for n in archive.namelist()
                if not n.endswith("metadata.yaml")}


def test_a_broken_bundle_fails_naming_the_file(superset, admin, tmp_path: Path) -> None:
    broken = tmp_path / "bundle"
    shutil.copytree(BUNDLE_DIR, broken)
    chart = broken / "charts" / "trips_total.yaml"
    chart.write_text(yaml.safe_dump({k: v for k, v in CHARTS["trips_total"].items()
                                     if k != "viz_type"}))
    with pytest.raises(BundleError, match=r"charts/trips_total\.yaml: missing viz_type"):
        load(broken)
    # A chart of a dataset the bundle does not have.
    chart.write_text(yaml.safe_dump({**CHARTS["trips_total"], "dataset_uuid": str(uuid.uuid4())}))
    with pytest.raises(BundleError, match=r"charts/trips_total\.yaml: dataset_uuid .* is no "):
        load(broken)
    # What only Superset's own checks find: the import is refused, naming file and field.
    chart.write_text(yaml.safe_dump({**CHARTS["trips_total"], "slice_name": ["not", "text"]}))
    with pytest.raises(BundleError, match=r"charts/trips_total\.yaml: .*slice_name.*Not a valid"):
        superset.import_bundle(load(broken), superset.postgres.dsn("warehouse"), broken)


@pytest.mark.parametrize("slug", ["fleet-operations", "trips-and-customers"])
def test_each_dashboard_draws_every_chart_in_a_browser(superset, seeded, slug) -> None:
    from playwright.sync_api import expect, sync_playwright

    dashboard = yaml.safe_load((BUNDLE_DIR / "dashboards" / f"{slug.replace('-', '_')}.yaml")
                               .read_text())
    charts = [i for i in dashboard["position"].values()
              if isinstance(i, dict) and i.get("type") == "CHART"]
    answers: list = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            # Bodies are read afterwards: a handler must not wait on the page.
            page.on("response", lambda r: answers.append(r)
                    if "/api/v1/chart/data" in r.url else None)
            # The page asks for web fonts on the internet: "load" never comes offline.
            page.goto(f"{superset.url}/login/", wait_until="domcontentloaded")
            page.locator("#username").fill("admin")
            page.locator("#password").fill(superset.secrets.superset_admin_password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda url: "/login" not in url)
            page.goto(f"{superset.url}/superset/dashboard/{slug}/",
                      wait_until="domcontentloaded")
            expect(page.locator("[data-test=chart-container]")).to_have_count(len(charts),
                                                                          timeout=120_000)
            # Playwright's sync API delivers events only while it waits on the page.
            deadline = time.monotonic() + 120
            while len(answers) < len(charts) and time.monotonic() < deadline:
                page.wait_for_timeout(500)
            assert len(answers) >= len(charts), [r.url for r in answers]
            expect(page.locator("[data-test=loading-indicator]")).to_have_count(0, timeout=120_000)
            # A chart's query failing is an error in its result (rows may say "error" too).
            failed = [(r.status, r.text()[:300]) for r in answers
                      if r.status != 200 or any(result.get("error") or result.get("status")
                                                in ("failed", "error")
                                                for result in r.json().get("result", []))]
            assert not failed, failed
            screenshot(page, f"superset-{slug}.png", full_page=True)
        finally:
            browser.close()

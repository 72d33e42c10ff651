"""The Redshift backup engine's cut-off clock, run on PostgreSQL with Redshift's GETDATE()
as documented: the current date and time in the session's time zone, as a TIMESTAMP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from hoverboard.backup.engines import RedshiftEngine
from hoverboard.backup.layout import Layout

from runtime.settings import warehouse_dsn
from tests.support import scratch_database


@pytest.fixture
def warehouse(stack_env):
    with scratch_database(warehouse_dsn(stack_env), "clocktest", migrate=False) as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE FUNCTION getdate() RETURNS timestamp LANGUAGE sql"
                         " AS 'SELECT localtimestamp'")
        yield dsn


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland", "America/Los_Angeles"])
def test_the_cut_off_does_not_move_with_the_session_time_zone(warehouse, zone) -> None:
    engine = RedshiftEngine(store=None, layout=Layout("b", "p"),  # type: ignore[arg-type]
                            iam_role="arn:aws:iam::123456789012:role/hover-backup")
    with psycopg.connect(warehouse, options=f"-c timezone={zone}") as conn:
        now = engine.now(conn)
    assert abs(now - datetime.now(UTC)) < timedelta(minutes=1), (zone, now)

"""Superset's users and roles for the platform, made by code (run with Superset's own Python,
in its app context, by the local stack and by the compose deployment):

  python access.py admin   the admin user, its password from SUPERSET_ADMIN_PASSWORD
  python access.py roles   the roles Analyst and Operations after the bundles are imported
  python access.py explain BUNDLE.zip   why Superset's asset import refuses a bundle, per
                           file (its API answers only "Import failed for an unknown reason");
                           the databases' passwords as JSON in SUPERSET_IMPORT_PASSWORDS

Each role is Superset's Gamma (read dashboards and charts) plus SQL Lab, with access to the
datasets of its warehouse databases one by one, and the dashboards that name it. Every
dataset carries a row-level-security base filter that hides all rows from any role not
listed on it: a role given a dataset by mistake sees nothing rather than everything.
Idempotent: a second run changes nothing.
"""

from __future__ import annotations

import os
import sys

ADMIN_USER = "admin"
#: Role -> the Superset databases whose datasets it reads (database_name in the bundle)
#: and the dashboards (slug) it may open.
ROLES = {
    "Analyst": {"databases": ["Warehouse analytics"], "dashboards": ["trips-and-customers"]},
    "Operations": {"databases": ["Warehouse operations", "Warehouse analytics"],
                   "dashboards": ["fleet-operations", "trips-and-customers"]},
}
#: The base filter that hides every row from roles without access by design.
NOTHING = "1 = 0"
RLS_NAME = "platform roles only"


def ensure_admin(sm, db) -> None:
    from werkzeug.security import check_password_hash

    password = os.environ["SUPERSET_ADMIN_PASSWORD"]
    user = sm.find_user(username=ADMIN_USER)
    if user is None:
        sm.add_user(ADMIN_USER, "Platform", "Admin", "admin@hoverboard.invalid",
                    sm.find_role("Admin"), password=password)
    elif not check_password_hash(user.password, password):
        sm.reset_password(user.id, password)  # the stack's secrets are the truth
    db.session.commit()


def ensure_roles(sm, db) -> None:
    from superset.connectors.sqla.models import RowLevelSecurityFilter, SqlaTable
    from superset.models.core import Database
    from superset.models.dashboard import Dashboard

    gamma = sm.find_role("Gamma")
    sql_lab = sm.find_role("sql_lab")
    for name, spec in ROLES.items():
        role = sm.find_role(name) or sm.add_role(name)
        wanted = {*gamma.permissions, *sql_lab.permissions}
        for database_name in spec["databases"]:
            database = db.session.query(Database).filter_by(database_name=database_name).one()
            wanted.add(sm.add_permission_view_menu("database_access", database.perm))
            for dataset in db.session.query(SqlaTable).filter_by(database_id=database.id):
                wanted.add(sm.add_permission_view_menu("datasource_access", dataset.perm))
        # Exactly these permissions: one taken out of the spec is taken from the role.
        role.permissions = sorted(wanted, key=lambda pvm: pvm.id or 0)
        for slug in spec["dashboards"]:
            dashboard = db.session.query(Dashboard).filter_by(slug=slug).one()
            if role not in dashboard.roles:
                dashboard.roles.append(role)
    all_datasets = db.session.query(SqlaTable).all()
    rls = db.session.query(RowLevelSecurityFilter).filter_by(name=RLS_NAME).one_or_none()
    if rls is None:
        rls = RowLevelSecurityFilter(name=RLS_NAME, filter_type="Base", clause=NOTHING,
                                     description="Rows only for the platform's roles")
        db.session.add(rls)
    rls.tables = all_datasets
    # A base filter applies to every role except those listed here.
    rls.roles = [sm.find_role(name) for name in (*ROLES, "Admin")]
    db.session.commit()


def explain(path: str) -> int:
    """Superset's own checks of an import ZIP (those its asset import runs first), one line
    per file that fails them."""
    import json
    from zipfile import ZipFile

    from superset.commands.exceptions import CommandInvalidError
    from superset.commands.importers.v1.assets import ImportAssetsCommand
    from superset.commands.importers.v1.utils import get_contents_from_bundle

    with ZipFile(path) as bundle:
        contents = get_contents_from_bundle(bundle)
    passwords = json.loads(os.environ.get("SUPERSET_IMPORT_PASSWORDS") or "{}")
    try:
        ImportAssetsCommand(contents, passwords=passwords).validate()
    except CommandInvalidError as exc:
        for file, problem in exc.normalized_messages().items():
            print(f"{file}: {json.dumps(problem)}")
        return 1
    print("the files pass Superset's checks; the import failed after them (see its log)")
    return 1


def main(argv: list[str]) -> int:
    if argv[1:] not in (["admin"], ["roles"]) and not (len(argv) == 3 and argv[1] == "explain"):
        print(__doc__, file=sys.stderr)
        return 2
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset import db, security_manager

        if argv[1] == "admin":
            ensure_admin(security_manager, db)
        elif argv[1] == "roles":
            ensure_roles(security_manager, db)
        else:
            return explain(argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

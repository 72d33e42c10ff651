"""Superset's dashboards as code: the import bundle kept unzipped in ``analytics/superset``.

The folder is Superset's own import format (``metadata.yaml``, ``databases/``,
``datasets/``, ``charts/``, ``dashboards/``, YAML with stable UUIDs). On every ``bin/stack
up`` the stack checks it, zips it and imports it through Superset's asset import
(``/api/v1/assets/import/``), which overwrites every database, dataset, chart and dashboard
of the bundle: the repository is the truth, a second import changes nothing. (The dashboard
import would not do: it overwrites dashboards only and keeps the databases, datasets and
charts it finds, so an edited chart or a moved warehouse would never arrive.) Databases are
pointed at the warehouse of the stack that imports them; their passwords are passed at
import time, never kept in the files.

A dashboard changed in the UI goes back into the repository with::

    .venv/bin/python -m stack.superset_bundle unpack EXPORT.zip

(the ZIP from the dashboard's "Download > Export YAML"); ``check`` validates the folder.

The compose deployment imports with this same file, run alone by Superset's own Python
(it needs only PyYAML and requests, which Superset has)::

    python superset_bundle.py import --url URL --warehouse DSN --directory DIR

with the admin's password in ``SUPERSET_ADMIN_PASSWORD`` and each database user's in
``<USER>_PASSWORD`` (``ANALYTICS_READER_PASSWORD``, ...).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import yaml

#: The checkout this file is in (not stack.config's: the file also runs alone, in Superset's
#: image, where it is given the bundle's folder).
REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLE_DIR = REPO_ROOT / "analytics" / "superset"
#: Top folder inside the ZIP: Superset wants every file under one.
ZIP_ROOT = "hoverboard"
#: Keys each kind of file must have (Superset checks more; these we cross-reference).
REQUIRED = {
    "databases": ("database_name", "sqlalchemy_uri", "uuid"),
    "datasets": ("table_name", "database_uuid", "uuid"),
    "charts": ("slice_name", "viz_type", "dataset_uuid", "uuid"),
    "dashboards": ("dashboard_title", "uuid", "position"),
}
#: The bundle's type in metadata.yaml: what Superset's asset import accepts.
ASSETS = "assets"
#: What Superset puts in place of a password in an export's database URI.
MASKED_PASSWORD = "XXXXXXXXXX"


class BundleError(ValueError):
    """A bundle that cannot be imported; the message names the file and the reason."""


@dataclass(frozen=True)
class Bundle:
    files: dict[str, dict]  # path relative to the bundle folder -> parsed YAML

    def of_kind(self, kind: str) -> dict[str, dict]:
        return {p: c for p, c in self.files.items() if p.startswith(f"{kind}/")}


def load(directory: Path = BUNDLE_DIR) -> Bundle:
    """Parse and cross-check every file; the first problem is a BundleError naming it."""
    files: dict[str, dict] = {}
    for path in sorted(directory.rglob("*.yaml")):
        rel = path.relative_to(directory).as_posix()
        try:
            content = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise BundleError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(content, dict):
            raise BundleError(f"{path}: expected a mapping of keys to values")
        kind = rel.split("/", 1)[0]
        missing = [k for k in REQUIRED.get(kind, ()) if k not in content]
        if missing:
            raise BundleError(f"{path}: missing {', '.join(missing)}")
        files[rel] = content
    if files.get("metadata.yaml", {}).get("type") != ASSETS:
        raise BundleError(f"{directory}/metadata.yaml: missing or not of type {ASSETS} "
                          "(Superset's asset import needs it)")
    bundle = Bundle(files)
    _check_references(bundle, directory)
    return bundle


def _check_references(bundle: Bundle, directory: Path) -> None:
    def uuids(kind: str) -> set[str]:
        return {str(c["uuid"]) for c in bundle.of_kind(kind).values()}

    databases, datasets, charts = uuids("databases"), uuids("datasets"), uuids("charts")
    for path, content in bundle.of_kind("datasets").items():
        if str(content["database_uuid"]) not in databases:
            raise BundleError(f"{directory / path}: database_uuid {content['database_uuid']} "
                              "is no database of the bundle")
    for path, content in bundle.of_kind("charts").items():
        if str(content["dataset_uuid"]) not in datasets:
            raise BundleError(f"{directory / path}: dataset_uuid {content['dataset_uuid']} "
                              "is no dataset of the bundle")
    for path, content in bundle.of_kind("dashboards").items():
        for key, item in content["position"].items():
            if isinstance(item, dict) and item.get("type") == "CHART":
                chart = str(item.get("meta", {}).get("uuid"))
                if chart not in charts:
                    raise BundleError(f"{directory / path}: position {key} shows chart "
                                      f"{chart}, no chart of the bundle")


def with_warehouse(uri: str, warehouse: str) -> str:
    """``uri`` (its driver and user) pointed at the host, port and database of the DSN
    ``warehouse``; its password is left out (the importer passes it separately)."""
    own, target = urlsplit(uri), urlsplit(warehouse)
    user = own.username or ""
    return urlunsplit((own.scheme, f"{user}:{MASKED_PASSWORD}@{target.hostname}:{target.port}",
                       target.path, own.query, ""))


def to_zip(bundle: Bundle, warehouse: str | None = None) -> bytes:
    """The bundle as Superset's import ZIP, databases pointed at ``warehouse`` if given."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for rel, content in sorted(bundle.files.items()):
            if warehouse and rel.startswith("databases/"):
                content = {**content,
                           "sqlalchemy_uri": with_warehouse(content["sqlalchemy_uri"], warehouse)}
            archive.writestr(f"{ZIP_ROOT}/{rel}", yaml.safe_dump(content, sort_keys=False))
    return buffer.getvalue()


def database_files(bundle: Bundle) -> dict[str, str]:
    """Database file -> the user its URI connects as (whose password the import needs)."""
    return {rel: urlsplit(c["sqlalchemy_uri"]).username or ""
            for rel, c in bundle.of_kind("databases").items()}


def import_bundle(session, url: str, bundle: Bundle, *, warehouse: str,
                  passwords: dict[str, str], directory: Path = BUNDLE_DIR,
                  explain: Callable[[bytes, dict[str, str]], str] | None = None) -> None:
    """Import through Superset's API with a logged-in ``requests`` session (see
    :func:`login`); ``passwords`` maps a database's user to its password. The asset import
    answers a refused bundle with "unknown reason": ``explain`` (the ZIP and the passwords
    per file -> Superset's reasons per file) says which file and why."""
    by_file = {rel: passwords[user] for rel, user in database_files(bundle).items()}
    zipped = to_zip(bundle, warehouse)
    response = session.post(
        f"{url}/api/v1/assets/import/",
        files={"bundle": ("hoverboard.zip", zipped, "application/zip")},
        data={"passwords": json.dumps(by_file)},
        timeout=300,
    )
    if response.status_code != 200:
        reasons = (explain(zipped, by_file) if explain else "") or _import_errors(response)
        raise BundleError(f"Superset refused the bundle in {directory}: {reasons}")


def explainer(python: str, access: Path, env: dict[str, str], workdir: Path | None = None
              ) -> Callable[[bytes, dict[str, str]], str]:
    """An ``explain`` for :func:`import_bundle`: Superset's own checks of the ZIP, run by
    ``python access.py explain`` (deploy/superset) in Superset's environment ``env``."""
    def explain(zipped: bytes, passwords: dict[str, str]) -> str:
        with tempfile.NamedTemporaryFile(suffix=".zip", dir=workdir) as archive:
            archive.write(zipped)
            archive.flush()
            result = subprocess.run(
                [python, str(access), "explain", archive.name],
                env={**env, "SUPERSET_IMPORT_PASSWORDS": json.dumps(passwords)},
                cwd=workdir, capture_output=True, text=True, timeout=600)
        return "; ".join(result.stdout.split("\n")).strip("; ")

    return explain


def _import_errors(response) -> str:
    """Superset's reasons, per file where it gives them."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:500]}"
    reasons = []
    for error in body.get("errors", []):
        extra = {k: v for k, v in (error.get("extra") or {}).items() if k != "issue_codes"}
        for file, problem in extra.items():
            reasons.append(f"{file.removeprefix(ZIP_ROOT + '/')}: {json.dumps(problem)}")
        if not extra:
            reasons.append(error.get("message", ""))
    return "; ".join(reasons) or f"HTTP {response.status_code}: {body}"


def login(url: str, user: str, password: str):
    """A ``requests`` session logged in to Superset's API, with its CSRF token set."""
    import requests

    session = requests.Session()
    token = session.post(f"{url}/api/v1/security/login", json={
        "username": user, "password": password, "provider": "db", "refresh": False},
        timeout=60)
    if token.status_code != 200:
        raise BundleError(f"cannot log in to Superset at {url} as {user}: "
                          f"HTTP {token.status_code} {token.text[:200]}")
    session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    csrf = session.get(f"{url}/api/v1/security/csrf_token/", timeout=60)
    if csrf.ok:  # a user without any permission gets none, and can only read (nothing)
        session.headers["X-CSRFToken"] = csrf.json()["result"]
    session.headers["Referer"] = url
    return session


def unpack(export: Path, directory: Path = BUNDLE_DIR) -> list[Path]:
    """Write the files of a UI export ZIP into the bundle folder (replacing those with the
    same names); the databases keep the folder's URIs, the export's password mask is
    never written."""
    written = []
    with zipfile.ZipFile(export) as archive:
        for name in archive.namelist():
            if not name.endswith(".yaml") or "/" not in name:
                continue
            rel = name.split("/", 1)[1]
            if rel == "metadata.yaml":  # an export's says "Dashboard": the folder's stays
                continue
            content = yaml.safe_load(archive.read(name))
            target = directory / rel
            if rel.startswith("databases/"):
                if target.exists():  # the repository's URI, not this machine's
                    content["sqlalchemy_uri"] = yaml.safe_load(target.read_text())[
                        "sqlalchemy_uri"]
                parts = urlsplit(content["sqlalchemy_uri"])
                content["sqlalchemy_uri"] = urlunsplit(parts._replace(netloc=parts.netloc.replace(
                    f":{parts.password}@", "@") if parts.password else parts.netloc))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(yaml.safe_dump(content, sort_keys=False))
            written.append(target)
    load(directory)  # what was written must import again
    return written


def import_from_environment(args: argparse.Namespace) -> int:
    """``import``: the passwords from the environment (see the module's doc), never flags."""
    bundle = load(args.directory)
    users = sorted(set(database_files(bundle).values()))
    variables = {u: f"{u.upper()}_PASSWORD" for u in users}
    missing = [v for v in ("SUPERSET_ADMIN_PASSWORD", *variables.values())
               if not os.environ.get(v)]
    if missing:
        raise BundleError(f"{', '.join(missing)} not set (the deployment's secrets)")
    explain = (explainer(sys.executable, args.explain_with, dict(os.environ))
               if args.explain_with else None)
    session = login(args.url, args.user, os.environ["SUPERSET_ADMIN_PASSWORD"])
    import_bundle(session, args.url, bundle, warehouse=args.warehouse,
                  passwords={u: os.environ[v] for u, v in variables.items()},
                  directory=args.directory, explain=explain)
    print(f"imported {len(bundle.files)} files of {args.directory} into {args.url}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.superset_bundle",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="validate analytics/superset")
    unpack_cmd = sub.add_parser("unpack", help="write a UI export ZIP into analytics/superset")
    unpack_cmd.add_argument("export", type=Path)
    import_cmd = sub.add_parser("import", help="import a bundle folder into a running Superset "
                                "(the compose deployment; bin/stack up imports by itself)")
    import_cmd.add_argument("--url", required=True, help="Superset, e.g. http://superset:8088")
    import_cmd.add_argument("--warehouse", required=True,
                            help="DSN of the warehouse the databases point at (host, port, "
                                 "database are taken from it)")
    import_cmd.add_argument("--directory", type=Path, default=BUNDLE_DIR)
    import_cmd.add_argument("--user", default="admin")
    import_cmd.add_argument("--explain-with", type=Path, metavar="ACCESS_PY",
                            help="deploy/superset/access.py: say why Superset refuses a bundle")
    args = parser.parse_args(argv)
    try:
        if args.command == "import":
            return import_from_environment(args)
        if args.command == "check":
            bundle = load()
            print(f"{BUNDLE_DIR}: {len(bundle.files)} files, references consistent")
        else:
            for path in unpack(args.export):
                print(f"wrote {path.relative_to(REPO_ROOT)}")
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

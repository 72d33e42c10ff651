"""``python -m schemas register``: register schemas/ into the schema registry."""

from __future__ import annotations

import argparse
import os
import sys

from schemas.registry import RegistryError, SchemaRegistryClient, register_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas")
    sub = parser.add_subparsers(dest="command", required=True)
    reg = sub.add_parser("register", help="register every schema version (idempotent)")
    reg.add_argument("--registry", default=os.environ.get("HOVER_SCHEMA_REGISTRY_URL"),
                     help="Confluent-compatible API base URL (default: $HOVER_SCHEMA_REGISTRY_URL)")
    args = parser.parse_args(argv)
    if not args.registry:
        parser.error("no registry URL: pass --registry or set HOVER_SCHEMA_REGISTRY_URL "
                     "(bin/stack up writes it to the stack's stack.env)")
    try:
        for version, schema_id in register_all(SchemaRegistryClient(args.registry)):
            print(f"{version.subject:<18} v{version.version}  id {schema_id}  "
                  f"({version.path.name})")
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

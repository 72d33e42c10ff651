"""Command line of the local stack: ``bin/stack <command>``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict

from stack.orchestrator import LocalStack
from stack.process import StackError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bin/stack",
        description="Run the platform's services (Kafka, PostgreSQL, S3, Elasticsearch, "
        "schema registry) as local processes. State lives in $HOVER_STACK_HOME "
        "(default .stack/ in the checkout).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("up", "start services that are not running (all by default); idempotent"),
        ("down", "stop the services this stack started"),
        ("fetch", "fetch the services' artifacts into the cache without starting anything"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("services", nargs="*", help="service names (default: all)")
    status = sub.add_parser("status", help="state of every service; exit 3 if one is not ready")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    logs = sub.add_parser("logs", help="show a service's log")
    logs.add_argument("service")
    logs.add_argument("-n", "--lines", type=int, default=50)
    logs.add_argument("-f", "--follow", action="store_true")
    reset = sub.add_parser("reset", help="stop everything and delete all stack state")
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    sub.add_parser("env", help="print the path of the generated configuration file")
    stats = sub.add_parser("stats", help="memory and CPU of each running service (JSON lines)")
    stats.add_argument("--interval", type=float, default=5.0, help="CPU sampling seconds")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        stack = LocalStack()
        if args.command == "up":
            started = stack.up(args.services)
            print(
                f"stack up ({len(started)} started); configuration: {stack.config.env_file}"
            )
        elif args.command == "down":
            if not args.services:  # everything: what bin/platform started beside it too
                from stack.platform_run import stop_platform

                stop_platform(stack, say=print)
            stack.down(args.services)
        elif args.command == "fetch":
            stack.fetch(args.services)
            print(f"artifacts cached in {stack.config.cache_dir / 'artifacts'}")
        elif args.command == "status":
            statuses = stack.status()
            if args.json:
                print(json.dumps([asdict(s) for s in statuses], indent=2))
            else:
                for s in statuses:
                    pid = f"pid {s.pid}" if s.pid else ""
                    line = f"{s.name:<22} {s.state:<9} {pid:<11} {s.where}"
                    if s.state in ("dead", "starting"):
                        line += f"\n{'':<22} log: {s.log_file}"
                    print(line)
            return 0 if all(s.healthy for s in statuses) else 3
        elif args.command == "logs":
            if args.service not in stack.services and args.service != "fetch":
                known = ", ".join(stack.services)
                raise StackError(f"unknown service {args.service!r}; known: {known}")
            path = stack.config.log_file(args.service)
            if not path.exists():
                raise StackError(f"no log yet for {args.service} ({path})")
            tail_args = ["tail", f"-n{args.lines}"] + (["-F"] if args.follow else []) + [str(path)]
            os.execvp("tail", tail_args)
        elif args.command == "reset":
            if not args.yes and sys.stdin.isatty():
                answer = input(f"delete all state in {stack.config.home}? [y/N] ")
                if answer.strip().lower() not in ("y", "yes"):
                    return 1
            stack.reset()
        elif args.command == "stats":
            usage = stack.resources(args.interval)
            for name, figures in usage.items():
                print(json.dumps({"service": name, **figures}))
            print(json.dumps({
                "service": "TOTAL",
                "pss_mib": round(sum(f["pss_mib"] for f in usage.values()), 1),
                "rss_mib": round(sum(f["rss_mib"] for f in usage.values()), 1),
                "cpu_percent": round(sum(f["cpu_percent"] for f in usage.values()), 1),
                "interval_s": args.interval,
            }))
        elif args.command == "env":
            print(stack.config.env_file)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``bin/alerts``: list and search the platform's alerts, or flush the local spool.

    bin/alerts                      alerts of the last 24 hours, newest first
    bin/alerts --since now-1h --severity error
    bin/alerts --search "warehouse_backup"
    bin/alerts flush                send alerts spooled while Elasticsearch was down
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from alerts.writer import AlertWriter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bin/alerts", description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=["list", "flush"], default="list")
    parser.add_argument("--url", default=os.environ.get("HOVER_ELASTICSEARCH_URL"),
                        help="Elasticsearch URL (default $HOVER_ELASTICSEARCH_URL)")
    parser.add_argument("--since", default="now-24h", help="date math, e.g. now-1h")
    parser.add_argument("--severity", choices=["info", "warning", "error", "critical"])
    parser.add_argument("--search", help="words in the message, error or Airflow fields")
    parser.add_argument("--size", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="one JSON document per line")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("no Elasticsearch URL: pass --url or set HOVER_ELASTICSEARCH_URL")
    writer = AlertWriter.from_url(args.url)
    try:
        if args.command == "flush":
            delivered = writer.flush()
            print(f"delivered {delivered} spooled alert(s); {writer.spooled()} still waiting")
            return 0 if writer.spooled() == 0 else 1
        alerts = writer.search(since=args.since, severity=args.severity, text=args.search,
                               size=args.size)
    except Exception as exc:  # noqa: BLE001 - a CLI: say what failed, no traceback
        print(f"error: Elasticsearch at {args.url}: {exc}", file=sys.stderr)
        return 1
    for alert in alerts:
        if args.json:
            print(json.dumps(alert))
            continue
        where = alert.get("airflow") or {}
        origin = (f"{where['dag_id']}.{where['task_id']} try {where.get('try_number')}"
                  if where else alert["service"]["name"])
        print(f"{alert['@timestamp'][:19]}  {alert['log']['level'].upper():<8} "
              f"{alert['event']['action']:<20} {origin}: {alert['message']}")
    if not alerts and not args.json:
        print(f"no alerts since {args.since}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

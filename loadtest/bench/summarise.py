#!/usr/bin/env python3
"""Markdown tables from loadtest/bench/run.sh output (the `support` scenario's figures too), one table per scenario: one row per
(backend or label, preset), each figure the median over that row's runs (each column on its own),
followed by the chat-bench command of each row (ports and pids as placeholders).

    python3 loadtest/bench/summarise.py results.jsonl [LABEL=more.jsonl ...]

A LABEL= prefix shows that file's rows under LABEL instead of their backend (for before/after).
"""

import json
import re
import statistics
import sys
from collections import defaultdict


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.{digits}f}"
    return f"{int(v):,}"


def command(cmd):
    cmd = re.sub(r"ws://127\.0\.0\.1:\d+/ws", "ws://127.0.0.1:$PORT/ws", cmd, count=1)
    cmd = re.sub(r"ws://127\.0\.0\.1:\d+/ws", "ws://127.0.0.1:$PORT2/ws", cmd)
    cmd = re.sub(r"--server-pid \d+", "--server-pid $PID", cmd)
    return cmd.replace(" --json", "") + " --json"


def pcts(runs, field, keys=("p50", "p95", "p99", "max")):
    return " / ".join(fmt(med([r[field][k] for r in runs]), 2) for k in keys)


def cpu(runs):
    server = med([sum(r["servers_cpu_s"]) for r in runs])
    redis = med([r["redis_cpu_s"] for r in runs])
    bench = med([r["client_cpu_s"] for r in runs])
    return " / ".join(fmt(v, 2) for v in (server, redis, bench))


CONNECT = (
    ["conn/s", "time to all joined s", "connect p50 / p99 / max ms", "failures", "errors",
     "RSS/conn KiB", "CPU s server / redis / chat-bench"],
    lambda runs: [
        fmt(med([r["connections_per_s"] for r in runs])),
        fmt(med([r["connect_s"] for r in runs]), 3),
        pcts(runs, "connect_ms", ("p50", "p99", "max")),
        fmt(med([r["connect_failures"] for r in runs])),
        fmt(med([r["errors"] for r in runs])),
        fmt(med([r["rss_per_connection_kb"] for r in runs])),
        cpu(runs),
    ],
)
TRAFFIC = (
    ["conns", "sent/s", "deliveries/s", "latency p50 / p95 / p99 / max ms", "ack p99 ms",
     "errors", "gaps", "RSS/conn KiB", "CPU s server / redis / chat-bench"],
    lambda runs: [
        fmt(med([r["connections"] for r in runs])),
        fmt(med([r["sent_per_s"] for r in runs])),
        fmt(med([r["deliveries_per_s"] for r in runs]), 0),
        pcts(runs, "latency_ms"),
        fmt(med([r["ack_latency_ms"]["p99"] for r in runs]), 2),
        fmt(med([r["errors"] for r in runs])),
        fmt(med([r["gaps"] for r in runs])),
        fmt(med([r["rss_per_connection_kb"] for r in runs])),
        cpu(runs),
    ],
)

SUPPORT = (
    ["clients", "held", "sent/s", "queue update p50 / p95 / p99 / max ms", "timed",
     "queue frames (mean B)", "unreflected", "agent delivery p50 / p95 / p99 / max ms",
     "agent delivered / expected", "ack p99 ms", "errors", "RSS before / connected / after MiB",
     "CPU s server / redis / chat-bench"],
    lambda runs: [
        fmt(med([r["connections"] for r in runs])),
        fmt(med([r["taken"] for r in runs])),
        fmt(med([r["sent_per_s"] for r in runs])),
        pcts(runs, "queue_latency_ms"),
        fmt(med([r["queue_latency_ms"]["count"] for r in runs])),
        f'{fmt(med([r["queue_frames"] for r in runs]))} ({fmt(med([r["queue_frame_bytes"] for r in runs]))})',
        fmt(med([r["queue_unreflected"] for r in runs])),
        pcts(runs, "agent_latency_ms"),
        f'{fmt(med([r["agent_delivered"] for r in runs]))} / {fmt(med([r["agent_expected"] for r in runs]))}',
        fmt(med([r["ack_latency_ms"]["p99"] for r in runs]), 2),
        fmt(med([r["errors"] for r in runs])),
        " / ".join(
            fmt(med([(r["server_rss_kb"] or [None] * 3)[i] and r["server_rss_kb"][i] / 1024 for r in runs]))
            for i in range(3)
        ),
        cpu(runs),
    ],
)


def main(args):
    by_scenario = defaultdict(lambda: defaultdict(list))
    for arg in args:
        label, _, path = arg.rpartition("=")
        with open(path) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    by_scenario[r["scenario"]][(label or r["backend"], r["name"])].append(r)
    for scenario, rows in by_scenario.items():
        heads, cells = (
            CONNECT if scenario in ("connect", "seed450")
            else SUPPORT if scenario == "support"
            else TRAFFIC
        )
        print(f"#### {scenario}\n")
        print("| server | preset | runs | " + " | ".join(heads) + " |")
        print("|---" * (len(heads) + 3) + "|")
        for (label, name), runs in rows.items():
            print(f"| {label} | {name} | {len(runs)} | " + " | ".join(cells(runs)) + " |")
        print()
        seen = set()
        for (_, name), runs in rows.items():
            if name not in seen:
                seen.add(name)
                print(f"- `{name}`: `{command(runs[0]['command'])}`")
        print()


if __name__ == "__main__":
    main(sys.argv[1:])

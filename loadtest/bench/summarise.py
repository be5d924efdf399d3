#!/usr/bin/env python3
"""Markdown tables from loadtest/bench/run.sh output (the `support` scenario's figures too), one table per scenario: one row per
(backend or label, preset), each figure the median over that row's runs (each column on its own),
followed by the chat-bench command of each row (ports and pids as placeholders).

    python3 loadtest/bench/summarise.py results.jsonl [LABEL=more.jsonl ...]
    python3 loadtest/bench/summarise.py --compare peers.jsonl [...]

A LABEL= prefix shows that file's rows under LABEL instead of their backend (for before/after).
`--compare` prints one side-by-side table of loadtest/bench/peers.sh output instead: one row per
preset, one column per server, the headline figures of each cell (medians, as above). Runs of a
peer protocol (socket.io, NATS) have no offsets, so their `gaps` is shown as "n/a".
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
    # chat-server's URLs end in /ws, the peers' (loadtest/bench/peers.sh) in the port.
    cmd = re.sub(r"ws://127\.0\.0\.1:\d+(/ws)?\b", r"ws://127.0.0.1:$PORT\1", cmd, count=1)
    cmd = re.sub(r"ws://127\.0\.0\.1:\d+(/ws)?\b", r"ws://127.0.0.1:$PORT2\1", cmd)
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
        gaps(runs),
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


def gaps(runs):
    if any(r.get("protocol", "chatapp") != "chatapp" for r in runs):
        return "n/a"
    return fmt(med([r["gaps"] for r in runs]))


def cell(runs):
    """The headline of one (preset, server): what the side-by-side table shows."""
    scenario = runs[0]["scenario"]
    cpu_s = med([sum(r["servers_cpu_s"]) for r in runs])
    if scenario == "connect" or runs[0]["sent"] == 0 and scenario != "fanout":
        text = (f"{fmt(med([r['connect_s'] for r in runs]), 2)} s, "
                f"{fmt(med([r['rss_per_connection_kb'] for r in runs]))} KiB/conn")
    else:
        # Every member joined before the first send and stays: each message sent is owed to
        # every member of its room. Late (after the drain) and lost deliveries both fall short.
        owed = med([r["sent"] * r["connections"] / max(r["rooms"], 1) for r in runs])
        done = med([r["delivered"] for r in runs])
        text = (f"{fmt(med([r['deliveries_per_s'] for r in runs]), 0)} deliveries/s "
                f"({fmt(med([r['sent_per_s'] for r in runs]), 0)} msg/s), "
                f"p99 {fmt(med([r['latency_ms']['p99'] for r in runs]), 1)} ms")
        if owed and done < owed:
            text += f", {100 * done / owed:.0f}% delivered by the end"
    errors = med([r["errors"] for r in runs]) + med([r["connect_failures"] for r in runs])
    if errors:
        text += f", {fmt(errors)} errors"
    return text + f"; CPU {fmt(cpu_s, 1)} s"


def compare(paths):
    rows = defaultdict(lambda: defaultdict(list))
    servers = []
    for path in paths:
        with open(path) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    rows[r["name"]][r["server"]].append(r)
                    if r["server"] not in servers:
                        servers.append(r["server"])
    print("| preset | " + " | ".join(servers) + " |")
    print("|---" * (len(servers) + 1) + "|")
    for name, by_server in rows.items():
        cells = [cell(by_server[s]) + f" (n={len(by_server[s])})" if s in by_server else "-"
                 for s in servers]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    for name, by_server in rows.items():
        cmd = command(next(iter(by_server.values()))[0]["command"])
        print(f"- `{name}`: `{re.sub(r'--protocol [a-z]+', '--protocol PROTOCOL', cmd)}`")


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
    if sys.argv[1:2] == ["--compare"]:
        compare(sys.argv[2:])
    else:
        main(sys.argv[1:])

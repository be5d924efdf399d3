#!/usr/bin/env python3
"""Server CPU per delivery in the 1,000-member fanout, measured in a steady window.

    loadtest/bench/fanout-cpu.py SERVER_BIN RATE [cpu|record|strace|perf] >> OUT.jsonl

Starts SERVER_BIN pinned to CPU 0 with peers.sh's chat-server flags, runs `chat-bench fanout
--members 1000 --senders 10 --rate RATE --duration 8` pinned to CPU 1 (CHAT_BENCH, default
target/release/chat-bench), and from 2 s after the first deliveries, for 3 s, reads the server's
`chat_messages_delivered_total` and its CPU ticks (/proc/PID/stat): connecting and draining are
left out. Prints one JSON line: deliveries, CPU s, us per delivery, deliveries per CPU-second,
chat-bench's report and its CPU, and the CPU time the hypervisor stole from the machine in the
window (`steal_s`, both CPUs: a noisy host shows there). The mode adds, over the same window: `record` a perf profile
(/tmp/perf-<dir of SERVER_BIN>-RATE.data, `perf report --no-children --sort sym`), `strace`
syscall counts (strace -c -f; it slows the server), `perf` perf stat: `sendto` calls (root)
and instructions:u (where the machine has hardware counters). Used for docs/benchmarks.md, "Issue #10, round 3"."""
import json, os, re, signal, socket, subprocess, sys, time, urllib.request
binp, rate = sys.argv[1], sys.argv[2]
mode = sys.argv[3] if len(sys.argv) > 3 else "cpu"
bench = os.environ.get("CHAT_BENCH", "target/release/chat-bench")
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
flags = ["--listen", f"127.0.0.1:{port}", "--max-connections", "20000", "--max-frame-bytes", "1048576",
  "--send-rate", "100000", "--send-burst", "100000", "--address-send-rate", "100000",
  "--address-send-burst", "100000", "--max-connections-per-address", "100000", "--max-rooms", "10000",
  "--rooms-per-address-per-hour", "1000000", "--request-rate", "100000", "--request-burst", "100000"]
env = dict(os.environ, CHATAPP_GUEST_POSTING="true", RUST_LOG="warn")
srv = subprocess.Popen(["taskset", "-c", "0", binp] + flags, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
pid = srv.pid
def delivered():
    t = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    m = re.search(r"^chat_messages_delivered_total (\d+)", t, re.M); return int(m.group(1))
def steal():
    # ticks the hypervisor took from this VM, all CPUs (/proc/stat's 8th field): a run that lost
    # many measured a busy host, not the server
    return int(open("/proc/stat").readline().split()[8])
def ticks():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split(); return int(f[11]) + int(f[12])
for _ in range(200):
    try: delivered(); break
    except Exception: time.sleep(0.05)
b = subprocess.Popen(["taskset", "-c", "1", bench, "fanout", "--members", "1000", "--senders", "10", "--rate", rate,
   "--duration", "8", "--url", f"ws://127.0.0.1:{port}/ws", "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
# wait for traffic to start
while delivered() < 1000: time.sleep(0.05)
time.sleep(2)
d0, t0, w0, s0 = delivered(), ticks(), time.time(), steal()
extra = {}
if mode == "perf":
    p = subprocess.run(["perf", "stat", "-x,", "-e", "instructions:u,task-clock,syscalls:sys_enter_sendto", "-p", str(pid), "--", "sleep", "3"], capture_output=True, text=True)
    for line in p.stderr.splitlines():
        parts = line.split(",")
        if len(parts) > 2 and parts[0].replace(".", "").isdigit():
            extra[parts[2]] = float(parts[0])
elif mode == "strace":
    p = subprocess.run(["timeout", "-s", "INT", "3", "strace", "-c", "-f", "-p", str(pid)], capture_output=True, text=True)
    for line in p.stderr.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and not parts[-1].startswith("total"):
            extra[parts[-1]] = int(parts[3])
elif mode == "record":
    subprocess.run(["perf", "record", "-F", "1999", "-e", "cpu-clock", "-o", "/tmp/perf-" + binp.split("/")[-2] + "-" + rate + ".data", "-p", str(pid), "--", "sleep", "3"], capture_output=True)
else:
    time.sleep(3)
d1, t1, w1, s1 = delivered(), ticks(), time.time(), steal()
out = b.communicate()[0].decode().strip().splitlines()
r = json.loads(out[-1]) if out else {}
srv.send_signal(signal.SIGTERM); srv.wait()
dd = d1 - d0
res = dict(bin=binp, rate=rate, mode=mode, deliveries=dd, secs=round(w1 - w0, 2), cpu_s=(t1 - t0) / 100,
  us_per_delivery=round((t1 - t0) / 100 / dd * 1e6, 3) if dd else None,
  deliv_per_cpu_s=round(dd / ((t1 - t0) / 100)) if t1 > t0 else None,
  bench_delivered=r.get("delivered"), expected=r.get("expected_deliveries"), errors=r.get("errors"), gaps=r.get("gaps"),
  p50=r.get("latency_ms", {}).get("p50"), p99=r.get("latency_ms", {}).get("p99"),
  client_cpu_s=r.get("client_cpu_s"), steal_s=(s1 - s0) / 100)
for k, v in extra.items():
    res[k] = v
    if dd and k in ("instructions:u",): res["instr_per_delivery"] = round(v / dd)
    if dd and k == "syscalls:sys_enter_sendto": res["deliveries_per_sendto"] = round(dd / v, 1)
    if dd and mode == "strace": res.setdefault("calls_per_1k_deliv", {})[k] = round(v * 1000 / dd, 1)
print(json.dumps(res)); sys.stdout.flush()

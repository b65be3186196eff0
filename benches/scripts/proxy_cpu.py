#!/usr/bin/env python3
"""Proxy CPU per call at a fixed call rate, SIPp driving (shared/bench/METHOD.md).

Topology on loopback: SIPp uac 127.0.0.1:5061 -> proxy 127.0.0.1:5060 ->
SIPp uas 127.0.0.1:5070. The proxy is pinned to core 0, both SIPp instances
to core 1. The scenarios are shared/bench/uac.xml / uas.xml (SIPp's uac/uas
with a real route set). The proxy's utime and stime come from /proc at
t = 3 s and t = duration - 1 s; completed calls in that window from SIPp's
-trace_stat CSV. This is the interim harness until trunkload (issue 4).

usage: proxy_cpu.py PROXY RATE [DURATION]
  PROXY_PERF=FILE in the environment: `perf record -g` the proxy over the window
  PROXY: trunkline | trunkline-stateless | kamailio | kamailio-stateless | relay
"""
import csv, glob, os, shutil, signal, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("TRUNKLINE_SHARED", os.path.join(ROOT, "..", "shared", "bench"))
TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pids):
    u = s = 0
    for pid in pids:
        try:
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        u += int(f[11]); s += int(f[12])
    return u / TICK, s / TICK


def descendants(pid):
    out = [pid]
    for p in glob.glob("/proc/[0-9]*/stat"):
        try:
            f = open(p).read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(f[1]) in out:
            out.append(int(p.split("/")[2]))
    return out


def start_proxy(kind, tmp):
    pin = ["taskset", "-c", "0"]
    if kind.startswith("trunkline"):
        exe = os.path.join(ROOT, "target", "release", "trunkline")
        args = [exe, "run", "--to", "127.0.0.1:5070", "--shards", "1", "--cpus", "0"]
        if kind == "trunkline-stateless":
            args.append("--stateless")
        env = dict(os.environ, RUST_LOG="warn")
        return subprocess.Popen(pin + args, stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/proxy.log", "w"), env=env)
    if kind.startswith("kamailio"):
        cfg = "kamailio-stateless.cfg" if kind == "kamailio-stateless" else "kamailio-stateful.cfg"
        args = ["kamailio", "-DD", "-E", "-m", "1024", "-M", "64", "-x", "tlsf", "-A", "CHILDREN=1",
                "-A", "UAS_PORT=5070", "-f", os.path.join(SHARED, cfg), "-Y", tmp, "-P", f"{tmp}/k.pid"]
        return subprocess.Popen(pin + args, stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/proxy.log", "w"))
    if kind == "relay":
        exe = os.path.join(ROOT, "target", "release", "blind-relay")
        return subprocess.Popen(pin + [exe, "127.0.0.1:5060", "127.0.0.1:5070"])
    sys.exit(f"unknown proxy {kind}")


def main():
    kind, rate = sys.argv[1], int(sys.argv[2])
    duration = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    tmp = tempfile.mkdtemp(prefix="proxycpu-")
    proxy = start_proxy(kind, tmp)
    time.sleep(1.0)
    sipp = ["taskset", "-c", "1", "sipp", "-i", "127.0.0.1", "-nostdin", "-max_socket", "1000"]
    uas = subprocess.Popen(sipp + ["-sf", os.path.join(SHARED, "uas.xml"), "-p", "5070"],
                           cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    uac = subprocess.Popen(sipp + ["-sf", os.path.join(SHARED, "uac.xml"), "-p", "5061", "127.0.0.1:5060",
                                   "-r", str(rate), "-m", str(rate * duration), "-d", "1000",
                                   "-trace_stat", "-fd", "1", "-timeout", str(duration + 15) + "s"],
                           cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    pids = descendants(proxy.pid)
    time.sleep(3)
    c1, w1 = proc_cpu(pids), time.time()
    perf_out = os.environ.get("PROXY_PERF")  # optional: perf record the window into this file
    if perf_out:
        subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000", "--call-graph", os.environ.get("PROXY_PERF_CG", "fp"), "-o", perf_out,
                        "-p", ",".join(map(str, pids)), "--", "sleep", str(duration - 4)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        time.sleep(duration - 4)
    pids = descendants(proxy.pid)
    c2, w2 = proc_cpu(pids), time.time()
    rss_kb = 0
    for pid in pids:
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    rss_kb += int(line.split()[1])
        except FileNotFoundError:
            pass
    try:
        uac.wait(timeout=duration + 30)
    except subprocess.TimeoutExpired:
        uac.kill()
        uac.wait()
    code = uac.returncode
    uas.send_signal(signal.SIGTERM); uas.wait()
    proxy.send_signal(signal.SIGINT)
    try:
        proxy.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proxy.kill()
    if kind.startswith("kamailio"):
        subprocess.run(["pkill", "-f", "--", f"-Y {tmp}"], check=False)
    rows = list(csv.reader(open(glob.glob(f"{tmp}/uac_*_.csv")[0]), delimiter=";"))
    hdr = rows[0]
    i_ok, i_fail, i_el = hdr.index("SuccessfulCall(C)"), hdr.index("FailedCall(C)"), hdr.index("ElapsedTime(C)")

    def secs(t):  # ElapsedTime(C) is HH:MM:SS:mmm... in 3.6
        p = t.split(":")
        return int(p[0]) * 3600 + int(p[1]) * 60 + float(p[2]) + (float("0." + p[3]) if len(p) > 3 else 0)

    def ok_at(t):
        best = 0
        for r in rows[1:]:
            if secs(r[i_el]) <= t:
                best = int(r[i_ok])
        return best

    calls = ok_at(w2 - t0) - ok_at(w1 - t0)
    failed = int(rows[-1][i_fail])
    ok_total = int(rows[-1][i_ok])
    du, ds = c2[0] - c1[0], c2[1] - c1[1]
    wall = w2 - w1
    per = lambda x: x / calls * 1e6 if calls else float("nan")
    print(f"{kind:20s} rate={rate:6d} calls_ok={ok_total} failed={failed} exit={code} "
          f"window_calls={calls} cps={calls / wall:8.0f} proxy_cores={(du + ds) / wall:5.2f} "
          f"utime_us_per_call={per(du):6.1f} stime_us_per_call={per(ds):6.1f} cpu_us_per_call={per(du + ds):6.1f} "
          f"rss_mb={rss_kb / 1024:.0f}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

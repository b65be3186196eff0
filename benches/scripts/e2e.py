#!/usr/bin/env python3
"""End-to-end bench: the highest sustained call rate through a SIP router, and
the router's CPU per call, on this machine.

    benches/scripts/e2e.py --driver sipp --peer trunkline,kamailio

Topology on loopback, UDP (ports configurable, defaults clear of 5060):

    UAC ip:15061 --> router ip:15060 --> UAS ip:15070

The router is trunkline (`trunkline run`, stateful and record-routing by
default), Kamailio (with a config shipped in this file that does the same
job: record_route, tm t_relay, loose_route) or the blind relay
(`blind-relay`, no parsing: the kernel's floor). The UAC and UAS are SIPp
(`--driver sipp`) or trunkload (`--driver trunkload`, the same flags). Every
process is pinned with taskset (`--router-cpus`, `--uac-cpus`, `--uas-cpus`).

Each step runs a fresh router and UAS, then the UAC at a fixed offered rate
for `--duration` seconds. Measured over the steady window t = warmup ..
duration - tail (from the UAC's start):
  - router utime and stime from /proc/PID/stat of every process of the
    router (a process's stat counts all its threads), divided by the calls
    that completed in the window -> user and system microseconds per call
    (the sum is the scheduler's exact run time; the split between the two
    comes from tick sampling and is noisy in short windows);
  - calls/s achieved (SuccessfulCall(C) of the UAC's -trace_stat CSV,
    interpolated at the window's ends by wall-clock time);
  - INVITE->200 latency p50/p99: the UAC's rtd (SIPp -trace_rtt file, ms
    resolution; trunkload's --json report when it gives one).
A step passes when every call was created and finished, failed calls
(failed + unfinished) < --fail-threshold of the calls, the achieved rate is
>= --min-achieved of the offered one and p99 <= --max-p99-ms. The search
multiplies the rate by --ramp from --start-rate until a step fails (or
--max-rate), then bisects between the last pass and the first failure
until they are within --precision. The best sustained CPS is the highest
passing rate (the median over --repeats searches).

Exit status: 0 when every peer sustained some rate, 1 when one did not,
2 on a setup error. Python 3 standard library only.
"""
import argparse
import atexit
import csv
import datetime
import glob
import json
import math
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TICK = os.sysconf("SC_CLK_TCK")
PEERS = ("trunkline", "kamailio", "relay", "trunkline-edge", "kamailio-edge")
MODES = ("stateful", "stateless", "dialog", "topology-hiding", "dispatcher")

# --------------------------------------------------------------------------
# Scenarios: SIPp 3.6.1's built-in uac/uas with two RFC 3261 fixes (as in
# the peer measurements, docs/bench/METHOD.md): the UAS echoes
# Record-Route in 180/200 and the UAC sends ACK and BYE along the learned
# route set, so in-dialog requests exercise loose routing. `--scenario
# builtin` uses `-sn uac` / `-sn uas` instead (no route set: ACK and BYE
# carry no Route and the router sends them to the UAS as its default route).

def _invite(cseq, auth=""):
    return f"""  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: {cseq} INVITE
      Contact: sip:sipp@[local_ip]:[local_port]{auth}
      Max-Forwards: 70
      Subject: Performance Test
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>

"""


def _answered(cseq, challenge="", after=""):
    """The provisionals and the 200 of the INVITE with CSeq `cseq`, then
    its ACK, the call and the BYE (CSeq `cseq` + 1) along the route set."""
    return f"""  <recv response="100" optional="true">
  </recv>
{challenge}
  <recv response="180" optional="true">
  </recv>

  <recv response="183" optional="true">
  </recv>

  <recv response="200" rtd="true" rrs="true">
  </recv>

  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Subject: Performance Test
      Content-Length: 0

    ]]>
  </send>

  <pause/>

  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq + 1} BYE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Subject: Performance Test
      Content-Length: 0

    ]]>
  </send>

  <recv response="200" crlf="true"{after}>
  </recv>

"""


UAC_XML = ("""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- SIPp 3.6.1 `sipp -sd uac` with two changes: the 200 is received with
     rrs="true", and ACK/BYE follow the learned route set; a 407 is
     answered (ACK, then the INVITE again with -au/-ap's credentials, CSeq
     2), for the peers that authenticate (the *-edge ones). -->
<scenario name="uac-rrs">
""" + _invite(1) + _answered(1, challenge="""
  <recv response="407" optional="true" auth="true" next="challenged">
  </recv>
""", after=' next="done"') + """  <label id="challenged"/>

  <send>
    <![CDATA[

      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>

""" + _invite(2, auth="\n      [authentication]") + _answered(2) + """  <label id="done"/>

  <ResponseTimeRepartition value="10, 20, 30, 40, 50, 100, 150, 200"/>
  <CallLengthRepartition value="10, 50, 100, 500, 1000, 5000, 10000"/>
</scenario>
""")

UAS_XML = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- SIPp 3.6.1 `sipp -sd uas` with one change: 180 and 200 echo the
     request's Record-Route ([last_Record-Route:]), RFC 3261 12.1.1. -->
<scenario name="uas-rr">
  <recv request="INVITE" crlf="true">
  </recv>

  <send>
    <![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>

  <send retrans="500">
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>

  <recv request="ACK" optional="true" rtd="true" crlf="true">
  </recv>

  <recv request="BYE">
  </recv>

  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>

  <timewait milliseconds="4000"/>

  <ResponseTimeRepartition value="10, 20, 30, 40, 50, 100, 150, 200"/>
  <CallLengthRepartition value="10, 50, 100, 500, 1000, 5000, 10000"/>
</scenario>
"""

# --------------------------------------------------------------------------
# Kamailio configs (Debian `kamailio` 5.6), the peer doing trunkline's job.
# @LISTEN@, @UAS@ and @CHILDREN@ are filled in per run. Logging errors only,
# no DNS, no database. Run with -x tlsf (Kamailio's fastest allocator).

# What the stateful configs share: the core settings and tm's modules.
_KAMAILIO_CORE = """debug=-1
log_stderror=yes
memdbg=5
memlog=5
children=@CHILDREN@
disable_tcp=yes
auto_aliases=no
listen=udp:@LISTEN@
maxbuffer=4194304        # receive buffer up to trunkline's 4 MiB (engine/src/transport/udp.rs)
dns=no
rev_dns=no
use_dns_cache=no
dns_try_ipv6=no

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "pv.so"
"""
_KAMAILIO_TM = """
modparam("tm", "fr_timer", 5000)
modparam("tm", "fr_inv_timer", 30000)
"""

KAMAILIO_STATEFUL = ("""#!KAMAILIO
# trunkline e2e bench: transaction-stateful proxy, as `trunkline run --to UAS`:
# tm + record_route() + t_relay() for initial requests, loose_route() for
# in-dialog ones; requests without a Route go to the UAS (trunkline's --to).
""" + _KAMAILIO_CORE + _KAMAILIO_TM + """
request_route {
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483", "Too Many Hops");
        exit;
    }
    if (has_totag()) {
        if (loose_route()) {
            route(RELAY);
        }
        # no Route (no route set learned, `--scenario builtin`): to the UAS
        $du = "sip:@UAS@";
        if (is_method("ACK")) {
            if (t_check_trans()) {
                t_relay();   # an ACK to a negative reply: tm absorbs it
                exit;
            }
            forward();       # the ACK to a 2xx, stateless as trunkline relays it
            exit;
        }
        route(RELAY);
    }
    if (is_method("CANCEL")) {
        if (t_check_trans()) {
            route(RELAY);
        }
        exit;
    }
    if (is_method("INVITE|SUBSCRIBE")) {
        record_route();
    }
    $du = "sip:@UAS@";
    route(RELAY);
}

route[RELAY] {
    if (!t_relay()) {
        sl_reply_error();
    }
    exit;
}
""")

KAMAILIO_EDGE = ("""#!KAMAILIO
# trunkline e2e bench: the stateful proxy above doing examples/edge.toml's
# job, as the OpenSIPS/Kamailio ingress recipes write it: 405 for other
# methods, scanners dropped by User-Agent, pike for untrusted sources,
# preloaded Route refused, an IPv4 From host refused but for our domain,
# the trusted trunk 127.0.0.2 let through, everyone else authenticated by
# digest (alice / alice-secret; realm the Request-URI host).
""" + _KAMAILIO_CORE + """loadmodule "pike.so"
loadmodule "auth.so"
""" + _KAMAILIO_TM + """# as trunkline-edge's --flood-pps 100000: counted, above the bench's rate
modparam("pike", "sampling_time_unit", 1)
modparam("pike", "reqs_density_per_unit", 100000)
modparam("auth", "nonce_expire", 300)

request_route {
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483", "Too Many Hops");
        exit;
    }
    if ($si != "127.0.0.2" && !pike_check_req()) {
        exit;
    }
    if (!is_method("INVITE|ACK|CANCEL|BYE|OPTIONS|REGISTER")) {
        append_to_reply("Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER\r\n");
        sl_send_reply("405", "Method Not Allowed");
        exit;
    }
    if ($ua =~ "friendly-scanner|sipvicious|sipcli|VaxSIPUserAgent|sundayddr|iWar|SIPScan|sip-scan|pplsip|smap") {
        exit;
    }
    if (has_totag()) {
        if (loose_route()) {
            route(RELAY);
        }
        $du = "sip:@UAS@";
        if (is_method("ACK")) {
            if (t_check_trans()) {
                t_relay();
            }
            exit;            # (kamailio.cfg's way: the ACK of a 407, dropped)
        }
        route(RELAY);
    }
    if (is_method("CANCEL")) {
        if (t_check_trans()) {
            route(RELAY);
        }
        exit;
    }
    if ($si != "127.0.0.2") {
        if (is_present_hf("Route")) {
            sl_send_reply("403", "Preloaded Route denied");
            exit;
        }
        if ($au == "alice") {
            $var(pass) = "alice-secret";
        } else {
            $var(pass) = "no such user";   # the same work as a wrong password
        }
        if (!pv_proxy_authenticate("$rd", "$var(pass)", "0")) {
            proxy_challenge("$rd", "0");
            exit;
        }
        if ($fd =~ "^[0-9]{1,3}([.][0-9]{1,3}){3}$" && $fd != "127.0.0.1") {
            sl_send_reply("403", "Use domain name in From");
            exit;
        }
    }
    if (is_method("INVITE|SUBSCRIBE")) {
        record_route();
    }
    $du = "sip:@UAS@";
    route(RELAY);
}

route[RELAY] {
    if (!t_relay()) {
        sl_reply_error();
    }
    exit;
}
""")

# --mode dialog / topology-hiding: the stateful config, every initial INVITE
# a dialog (the dialog module's dlg_manage(), as a carrier's Kamailio keeps
# calls for limits and CDRs), and topoh masking Via/Contact/Record-Route
# and Call-ID (its defaults) for topology-hiding. Kamailio writes no CDR
# here (acc would add a write per call); trunkline writes its JSON lines.
_KAMAILIO_DIALOG = """loadmodule "dialog.so"
modparam("dialog", "default_timeout", 43200)
"""
_KAMAILIO_TOPOH = """loadmodule "topoh.so"
modparam("topoh", "mask_key", "trunkline-e2e-bench-key")
modparam("topoh", "mask_ip", "127.0.0.8")
"""


# --mode dispatcher: the stateful config, every initial request sent to a
# one-destination set (the UAS) picked round-robin, the destination
# probed with OPTIONS every second (Kamailio's dispatcher module with
# ds_select_dst(..., "4"), trunkline's [[dispatcher]] with a policy rule
# `dispatch = "pool"`).
_KAMAILIO_DISPATCHER = """loadmodule "dispatcher.so"
modparam("dispatcher", "list_file", "@DSLIST@")
modparam("dispatcher", "ds_ping_interval", 1)
modparam("dispatcher", "ds_probing_mode", 1)
"""


def kamailio_config(mode):
    """The Kamailio config doing trunkline's job in `mode`."""
    if mode == "stateless":
        return KAMAILIO_STATELESS
    if mode == "stateful":
        return KAMAILIO_STATEFUL
    if mode == "dispatcher":
        cfg = KAMAILIO_STATEFUL.replace('loadmodule "pv.so"\n',
                                        'loadmodule "pv.so"\n' + _KAMAILIO_DISPATCHER, 1)
        return cfg.replace("""    $du = "sip:@UAS@";
    route(RELAY);
}""", """    if (!ds_select_dst("1", "4")) {
        sl_send_reply("503", "No Destination Available");
        exit;
    }
    route(RELAY);
}""", 1)
    extra = _KAMAILIO_DIALOG + (_KAMAILIO_TOPOH if mode == "topology-hiding" else "")
    cfg = KAMAILIO_STATEFUL.replace('loadmodule "pv.so"\n', 'loadmodule "pv.so"\n' + extra, 1)
    return cfg.replace("""    if (is_method("INVITE|SUBSCRIBE")) {
        record_route();
    }
    $du""", """    if (is_method("INVITE|SUBSCRIBE")) {
        record_route();
    }
    if (is_method("INVITE")) {
        dlg_manage();
    }
    $du""", 1)


def trunkline_config(mode, d, uas=None):
    """trunkline's config file for `mode` (None: none needed): dialogs
    and a CDR per call in JSON lines (dialog), and topology hiding; the
    dispatcher set of the UAS (dispatcher)."""
    if mode == "dispatcher":
        text = (f'[[dispatcher]]\nid = "pool"\nalgorithm = "round-robin"\n'
                f'destinations = ["sip:{uas}"]\nprobe_interval_ms = 1000\n\n'
                f'[[policy]]\ndispatch = "pool"\n')
        path = os.path.join(d, f"trunkline-{mode}.toml")
        with open(path, "w") as f:
            f.write(text)
        return path
    if mode not in ("dialog", "topology-hiding"):
        return None
    text = f'[dialogs]\n\n[cdr]\npath = "{os.path.join(d, "cdr")}"\n'
    if mode == "topology-hiding":
        text += "\n[topology_hiding]\nenabled = true\n"
    path = os.path.join(d, f"trunkline-{mode}.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


KAMAILIO_STATELESS = """#!KAMAILIO
# trunkline e2e bench: stateless proxy, as `trunkline run --to UAS --stateless`:
# record_route() for initial INVITEs, loose_route() for in-dialog requests,
# forward() (no transactions); requests without a Route go to the UAS.
debug=-1
log_stderror=yes
memdbg=5
memlog=5
children=@CHILDREN@
disable_tcp=yes
auto_aliases=no
listen=udp:@LISTEN@
maxbuffer=4194304        # receive buffer up to trunkline's 4 MiB (engine/src/transport/udp.rs)
dns=no
rev_dns=no
use_dns_cache=no
dns_try_ipv6=no

loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "pv.so"

request_route {
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483", "Too Many Hops");
        exit;
    }
    if (has_totag() && loose_route()) {
        forward();
        exit;
    }
    if (!has_totag() && is_method("INVITE|SUBSCRIBE")) {
        record_route();
    }
    $du = "sip:@UAS@";
    forward();
    exit;
}
"""


# --------------------------------------------------------------------------
# Child processes: every one in its own session, killed on any exit.

CHILDREN = []
OUT = sys.stdout  # human-readable output (stderr when --json)


class SetupError(Exception):
    """A problem with the machine or the options, not with a step."""


def say(*a):
    print(*a, file=OUT, flush=True)


def spawn(argv, cwd, name, env=None):
    out = open(os.path.join(cwd, name + ".out"), "wb")
    err = open(os.path.join(cwd, name + ".err"), "wb")
    p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                         env=env, start_new_session=True)
    out.close()
    err.close()
    p.name, p.dir, p.argv = name, cwd, argv
    CHILDREN.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=8.0):
    """Signal the process's group, wait, then SIGKILL whatever is left."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(p.pid, signal.SIGKILL)  # stragglers (Kamailio's children)
    except (ProcessLookupError, PermissionError):
        pass
    p.wait()
    if p in CHILDREN:
        CHILDREN.remove(p)


def kill_all():
    for p in list(CHILDREN):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    CHILDREN.clear()


def log_tail(p, n=15):
    lines = []
    for ext in ("err", "out"):
        try:
            with open(os.path.join(p.dir, f"{p.name}.{ext}"), "rb") as f:
                data = f.read()[-4000:].decode("utf-8", "replace")
        except FileNotFoundError:
            continue
        # SIPp's screen is full of terminal escapes; keep printable lines
        keep = [ln.rstrip() for ln in data.replace("\r", "\n").splitlines() if ln.strip() and "\x1b" not in ln]
        lines += [f"  {p.name}.{ext}: {ln}" for ln in keep[-n:]]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# /proc

def proc_stat(pid):
    """(ppid, utime s, stime s) of a process (all its threads), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(fields[1]), int(fields[11]) / TICK, int(fields[12]) / TICK


def tree(pid):
    """pid and all its descendants."""
    parent = {}
    for path in glob.glob("/proc/[0-9]*/stat"):
        p = int(path.split("/")[2])
        st = proc_stat(p)
        if st:
            parent[p] = st[0]
    out, changed = {pid}, True
    while changed:
        changed = False
        for p, pp in parent.items():
            if pp in out and p not in out:
                out.add(p)
                changed = True
    return sorted(out)


def cpu_sample(pids):
    """{pid: (utime, stime)} for the processes still alive."""
    out = {}
    for pid in pids:
        st = proc_stat(pid)
        if st:
            out[pid] = st[1:]
    return out


def cpu_delta(a, b):
    """utime, stime spent between two samples by the processes in both."""
    u = s = 0.0
    for pid, (u2, s2) in b.items():
        if pid in a:
            u += u2 - a[pid][0]
            s += s2 - a[pid][1]
    return u, s


def cpu_times():
    """{cpu: (idle s, steal s)} from /proc/stat. Idle (+ iowait) is the
    precise figure (NO_HZ idle accounting); user/system there are sampled
    at the tick and miss most of a workload that wakes for 50 us at a time
    (a third of it on this VM), so the busy share is 1 - idle / wall."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *v = line.split()
                v = [int(x) for x in v[:8]] + [0] * (8 - len(v[:8]))
                out[int(name[3:])] = ((v[3] + v[4]) / TICK, v[7] / TICK)
    return out


def busy_share(a, b, cpus, wall):
    """Mean busy share (0..1) of a group of CPUs between two cpu_times()."""
    if wall <= 0:
        return None
    idle = sum(b[c][0] - a[c][0] for c in cpus) / wall / len(cpus)
    return min(1.0, max(0.0, 1.0 - idle))


def ctx_switches(pids):
    """(voluntary, involuntary) context switches of every thread of these
    processes (/proc/PID/task/*/status; the process's own status counts
    only its main thread), and their minor page faults (/proc/PID/stat,
    all threads). Threads that exit in between are lost, so compare
    samples of long-lived threads (a router's shards)."""
    vol = inv = faults = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                faults += int(f.read().rsplit(")", 1)[1].split()[7])
        except (OSError, ValueError, IndexError):
            pass
        for path in glob.glob(f"/proc/{pid}/task/*/status"):
            try:
                with open(path) as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches:"):
                            vol += int(line.split()[1])
                        elif line.startswith("nonvoluntary_ctxt_switches:"):
                            inv += int(line.split()[1])
            except (OSError, ValueError):
                pass
    return vol, inv, faults


# Syscalls counted by --count-syscalls: every one, and the ones a router's
# receive/send/wait loop makes (how it waits is what differs between peers).
SYSCALLS = ("recvfrom", "sendto", "recvmsg", "sendmsg", "recvmmsg", "sendmmsg", "io_uring_enter",
            "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll", "read", "write", "futex",
            "membarrier", "clock_nanosleep", "sched_yield", "brk", "mmap", "munmap", "madvise")


def count_syscalls(pids, seconds):
    """{syscall: count} made by every thread of these processes over the
    next `seconds` (perf stat on tracepoints: counting only, no ptrace
    stops; "all" is raw_syscalls:sys_enter), or None without perf."""
    if not shutil.which("perf") or not pids:
        return None
    events = ["raw_syscalls:sys_enter"] + [f"syscalls:sys_enter_{c}" for c in SYSCALLS]
    try:
        r = subprocess.run(["perf", "stat", "-x", ",", "--no-big-num", "-e", ",".join(events),
                            "-p", ",".join(map(str, pids)), "--", "sleep", f"{max(0.1, seconds):.3f}"],
                           capture_output=True, text=True, timeout=seconds + 30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = {}
    for ln in r.stderr.splitlines():
        cols = ln.split(",")
        if len(cols) < 3 or not cols[0].strip().isdigit():
            continue
        name = cols[2].strip()
        name = "all" if name == "raw_syscalls:sys_enter" else name.replace("syscalls:sys_enter_", "")
        out[name] = int(cols[0])
    return out or None


def udp_errors():
    """UDP receive-buffer and send-buffer errors of the host (/proc/net/snmp,
    and snmp6), summed: datagrams the kernel dropped."""
    total = 0
    try:
        with open("/proc/net/snmp") as f:
            lines = [ln.split() for ln in f if ln.startswith("Udp:")]
        if len(lines) >= 2:
            row = dict(zip(lines[0][1:], lines[1][1:]))
            total += int(row.get("RcvbufErrors", 0)) + int(row.get("SndbufErrors", 0))
    except (OSError, ValueError):
        pass
    try:
        with open("/proc/net/snmp6") as f:
            for ln in f:
                k, _, v = ln.partition(" ")
                if k in ("Udp6RcvbufErrors", "Udp6SndbufErrors"):
                    total += int(v)
    except (OSError, ValueError):
        pass
    return total


def socket_drops(ports):
    """{port: datagrams dropped} of the UDP sockets bound to these ports
    (/proc/net/udp{,6} `drops`; every socket on the port, summed)."""
    out = {p: 0 for p in ports}
    for fn in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(fn) as f:
                next(f)
                for ln in f:
                    cols = ln.split()
                    port = int(cols[1].rsplit(":", 1)[1], 16)
                    if port in out:
                        out[port] += int(cols[-1])
        except (OSError, ValueError, IndexError, StopIteration):
            pass
    return out


def machine():
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1048576:.0f} GiB"
    except OSError:
        pass
    return {"cpu_model": model, "cpus": os.cpu_count(), "kernel": platform.release(),
            "memory": mem, "hostname": platform.node()}


def first_line(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in (r.stdout + r.stderr).splitlines():
        if line.strip():
            return line.strip()
    return None


# --------------------------------------------------------------------------
# Ports and CPU lists

def family(ip):
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def hostport(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def port_busy(ip, port):
    s = socket.socket(family(ip), socket.SOCK_DGRAM)
    try:
        s.bind((ip, port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def wait_free(ip, ports, timeout=20.0):
    end = time.time() + timeout
    while True:
        busy = [p for p in ports if port_busy(ip, p)]
        if not busy:
            return
        if time.time() > end:
            raise SetupError(f"UDP port(s) {busy} on {ip} still in use after {timeout:.0f} s "
                             f"(see `ss -uapn 'sport = :{busy[0]}'`); pick others with "
                             f"--router-port/--uac-port/--uas-port")
        time.sleep(0.2)


def wait_bound(ip, port, p, what, timeout=15.0):
    """Until something binds ip:port (the child p we started), or p dies."""
    end = time.time() + timeout
    while not port_busy(ip, port):
        if p.poll() is not None:
            raise SetupError(f"{what} exited with status {p.returncode} before binding "
                             f"{hostport(ip, port)}: {shlex.join(p.argv)}\n{log_tail(p)}")
        if time.time() > end:
            raise SetupError(f"{what} did not bind {hostport(ip, port)} within {timeout:.0f} s\n{log_tail(p)}")
        time.sleep(0.05)


def cpu_list(text, opt):
    """taskset-style list ("1", "0-1", "0,2-3") -> sorted ints."""
    cpus = set()
    try:
        for part in text.split(","):
            if "-" in part:
                a, b = part.split("-", 1)
                cpus.update(range(int(a), int(b) + 1))
            else:
                cpus.add(int(part))
    except ValueError:
        raise SetupError(f"{opt} {text!r}: expected a CPU list like 1 or 0-1 or 0,2") from None
    allowed = os.sched_getaffinity(0)
    bad = sorted(cpus - allowed)
    if not cpus or bad:
        raise SetupError(f"{opt} {text!r}: CPU(s) {bad} not available (this process may use {sorted(allowed)})")
    return sorted(cpus)


def csv_cpus(cpus):
    return ",".join(map(str, cpus))


# --------------------------------------------------------------------------
# Binaries

def target_dir():
    if os.environ.get("CARGO_TARGET_DIR"):
        return os.path.abspath(os.environ["CARGO_TARGET_DIR"])
    try:
        r = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
        if r.returncode == 0:
            return json.loads(r.stdout)["target_directory"]
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError):
        pass
    return os.path.join(ROOT, "target")


BUILD = {  # binary -> cargo arguments
    "trunkline": ["-p", "trunkline-engine", "--bin", "trunkline"],
    "blind-relay": ["-p", "trunkline-benches", "--bin", "blind-relay"],
    "trunkload": ["-p", "trunkline-loadgen", "--bin", "trunkload"],
}


def binaries(args):
    """Builds (unless --no-build) and finds every program the run needs."""
    need_tools = {"taskset": "taskset not found: apt-get install util-linux"}
    if args.driver == "sipp" and not args.driver_bin:
        need_tools["sipp"] = "sipp not installed: apt-get install sip-tester"
    if "kamailio" in args.peers or "kamailio-edge" in args.peers:
        need_tools["kamailio"] = "kamailio not installed: apt-get install kamailio"
    found = {}
    if args.driver_bin:
        path = shutil.which(args.driver_bin)
        if not path:
            raise SetupError(f"--driver-bin {args.driver_bin}: not found or not executable")
        found[args.driver] = os.path.abspath(path)
    for tool, hint in need_tools.items():
        path = shutil.which(tool) or (tool == "kamailio" and shutil.which("/usr/sbin/kamailio"))
        if not path:
            raise SetupError(hint)
        found[tool] = path
    ours = []
    if "trunkline" in args.peers or "trunkline-edge" in args.peers:
        ours.append("trunkline")
    if "relay" in args.peers:
        ours.append("blind-relay")
    if args.driver == "trunkload" and not args.driver_bin:
        ours.append("trunkload")
    if not ours:
        return found
    tdir = target_dir()
    if not args.no_build:
        cmd = ["cargo", "build", "--release"] + sum((BUILD[b] for b in ours), [])
        say(f"building: {shlex.join(cmd)}")
        if shutil.which("cargo") is None:
            raise SetupError("cargo not found: install the Rust toolchain, or use --no-build with built binaries")
        r = subprocess.run(cmd, cwd=ROOT, stdout=sys.stderr, stderr=sys.stderr)
        if r.returncode != 0:
            raise SetupError(f"cargo build failed (status {r.returncode}): {shlex.join(cmd)}")
    for b in ours:
        path = os.path.join(tdir, "release", b)
        if not os.access(path, os.X_OK):
            raise SetupError(f"{path} not found: run without --no-build, or "
                             f"`cargo build --release {' '.join(BUILD[b])}`")
        found[b] = path
    return found


# --------------------------------------------------------------------------
# One step

def start_router(args, peer, bins, d):
    listen = hostport(args.ip, args.router_port)
    uas = hostport(args.ip, args.uas_port)
    pin = [bins["taskset"], "-c", csv_cpus(args.router_cpus)]
    if peer in ("trunkline", "trunkline-edge"):
        # --flood-pps 0: the load comes from one address, far above the
        # flood defence's default per-source rate (Kamailio runs no pike).
        # The edge peer counts it, above the bench's rate, as
        # kamailio-edge's pike does.
        pps = "0" if peer == "trunkline" else "100000"
        argv = [bins["trunkline"], "run", "--listen", listen, "--flood-pps", pps,
                "--shards", str(args.shards or len(args.router_cpus)), "--cpus", csv_cpus(args.router_cpus)]
        if peer == "trunkline-edge":
            argv += ["--config", args.edge_config]
        elif trunkline_config(args.mode, d, uas):
            argv += ["--config", trunkline_config(args.mode, d, uas)]
        argv += ["--table", args.lcr_table] if args.lcr_rules else ["--to", uas]
        if args.mode == "stateless":
            argv.append("--stateless")
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
        return spawn(pin + argv, d, "router", env=env), signal.SIGINT
    if peer in ("kamailio", "kamailio-edge"):
        cfg = kamailio_config(args.mode)
        if peer == "kamailio-edge":
            cfg = KAMAILIO_EDGE
        if args.mode == "dispatcher":
            dslist = os.path.join(d, "dispatcher.list")
            with open(dslist, "w") as f:
                f.write(f"1 sip:{uas} 0 0\n")
            cfg = cfg.replace("@DSLIST@", dslist)
        cfg = (cfg.replace("@LISTEN@", listen).replace("@UAS@", uas)
               .replace("@CHILDREN@", str(args.kamailio_children or len(args.router_cpus))))
        path = os.path.join(d, f"{peer}-{args.mode}.cfg")
        with open(path, "w") as f:
            f.write(cfg)
        argv = [bins["kamailio"], "-DD", "-E", "-m", "1024", "-M", "64", "-x", "tlsf",
                "-f", path, "-Y", d, "-P", os.path.join(d, "kamailio.pid")]
        return spawn(pin + argv, d, "router"), signal.SIGTERM
    if peer == "relay":
        return spawn(pin + [bins["blind-relay"], listen, uas], d, "router"), signal.SIGKILL
    raise SetupError(f"unknown peer {peer}")


def driver_argv(args, bins, role, rate=None, calls=None, timeout=None):
    prog = bins["sipp"] if args.driver == "sipp" else bins["trunkload"]
    cpus = args.uac_cpus if role == "uac" else args.uas_cpus
    argv = [bins["taskset"], "-c", csv_cpus(cpus), prog]
    if args.scenario == "builtin":
        argv += ["-sn", role]
    else:
        argv += ["-sf", os.path.join(args.tmp, f"{role}.xml")]
    argv += ["-i", args.ip, "-p", str(args.uac_port if role == "uac" else args.uas_port), "-nostdin"]
    argv += ["-max_socket", "1000"]
    if args.buff_size:
        argv += ["-buff_size", str(args.buff_size)]
    if args.driver == "trunkload":
        argv += ["--shards", str(len(cpus)), "--cpus", csv_cpus(cpus)]
    if role == "uac":
        argv += [hostport(args.ip, args.router_port), "-r", str(rate), "-m", str(calls),
                 "-d", str(args.call_ms), "-trace_stat", "-stf", "stat.csv", "-fd", "1",
                 "-trace_rtt", "-rtt_freq", "100", "-timeout", f"{timeout}s"]
        if args.limit:
            argv += ["-l", str(args.limit)]
        if args.lcr_rules:
            argv += ["-s", LCR_NUMBER]
        if args.driver == "trunkload":
            argv += ["--json"]
        if args.scenario == "rrs":
            # the credentials the edge peers' 407 asks for (unused elsewhere)
            argv += ["-au", "alice", "-ap", "alice-secret"]
        argv += shlex.split(args.uac_args)
    else:
        argv += ["-trace_counts", "-fd", "1"] + shlex.split(args.uas_args)
        if args.mode == "dispatcher":
            argv.append("-aa")  # the routers' OPTIONS probes answered 200
    return argv


LCR_NUMBER = "+14155550123"


def build_lcr_tables(args, bins):
    """Two routing tables of --lcr-rules random E.164 prefixes (plus +1),
    every rule to the UAS; the second differs by one rule. Returns the path
    the router maps (a hard link to the first)."""
    import random
    d = os.path.join(args.tmp, "lcr")
    os.makedirs(d, exist_ok=True)
    rng = random.Random(5060)
    with open(os.path.join(d, "gateways.csv"), "w") as f:
        f.write(f"id,address\nuas,{hostport(args.ip, args.uas_port)}\n")
    with open(os.path.join(d, "acl.csv"), "w") as f:
        f.write("cidr,group\n0.0.0.0/0,bench\n::/0,bench\n")
    seen = {"1"}
    lines = ["group,prefix,targets", "bench,+1,uas"]
    while len(lines) - 1 < args.lcr_rules:
        p = str(rng.randint(2, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(rng.randint(1, 9)))
        if p not in seen:
            seen.add(p)
            lines.append(f"bench,+{p},uas")
    paths = []
    for name, extra in (("a", []), ("b", ["bench,+1415,uas"])):
        rules = os.path.join(d, f"rules-{name}.csv")
        with open(rules, "w") as f:
            f.write("\n".join(lines + extra) + "\n")
        out = os.path.join(d, f"{name}.snap")
        cmd = [bins["trunkline"], "snap", "build", "--gateways", os.path.join(d, "gateways.csv"),
               "--rules", rules, "--acl", os.path.join(d, "acl.csv"), "-o", out]
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise SetupError(f"{shlex.join(cmd)} failed: {r.stderr.strip()}")
        paths.append(out)
    args.lcr_snaps = paths
    table = os.path.join(d, "table.snap")
    if os.path.exists(table):
        os.remove(table)
    os.link(paths[0], table)
    say(f"routing tables: {args.lcr_rules} rules each, built in {d}")
    return table


class Swapper:
    """Puts the other table in service every --swap-every seconds: a hard
    link renamed over the mapped path, then SIGHUP (the router verifies and
    publishes it; the old mapping goes with its last reader)."""

    def __init__(self, args, pid):
        import threading
        self.args, self.pid, self.count = args, pid, 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        tmp = self.args.lcr_table + ".next"
        while not self.done.wait(self.args.swap_every):
            src = self.args.lcr_snaps[(self.count + 1) % 2]
            if os.path.exists(tmp):
                os.remove(tmp)
            os.link(src, tmp)
            os.replace(tmp, self.args.lcr_table)
            try:
                os.kill(self.pid, signal.SIGHUP)
            except ProcessLookupError:
                return
            self.count += 1

    def stop(self):
        self.done.set()
        self.thread.join()
        return self.count


def uas_acks(d):
    """ACKs the UAS received (its -trace_counts CSV, last row), or None."""
    files = sorted(glob.glob(os.path.join(d, "*_counts.csv")))
    if not files:
        return None
    total = 0
    for fn in files:
        with open(fn, newline="") as f:
            rows = [r for r in csv.reader(f, delimiter=";") if r]
        if len(rows) < 2:
            return None
        cols = [i for i, h in enumerate(rows[0]) if h.endswith("_ACK_Recv")]
        if not cols:
            return None
        total += sum(int(rows[-1][i]) for i in cols if i < len(rows[-1]) and rows[-1][i].isdigit())
    return total


def stat_rows(path):
    """(epoch, successful, failed, created) per -trace_stat row."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    if len(rows) < 2:
        return []
    h = rows[0]
    i_now, i_ok, i_fail = h.index("CurrentTime"), h.index("SuccessfulCall(C)"), h.index("FailedCall(C)")
    i_made = h.index("TotalCallCreated") if "TotalCallCreated" in h else None
    out = []
    for r in rows[1:]:
        if len(r) <= max(i_now, i_ok, i_fail):
            continue
        # CurrentTime is "YYYY-MM-DD\tHH:MM:SS.uuuuuu\tEPOCH.uuuuuu"
        epoch = float(r[i_now].split("\t")[-1])
        out.append((epoch, int(r[i_ok]), int(r[i_fail]), int(r[i_made]) if i_made is not None else None))
    return out


def ok_at(rows, t):
    """SuccessfulCall(C) at wall time t, linear between the CSV's rows."""
    if not rows or t <= rows[0][0]:
        return rows[0][1] if rows else 0
    for (t1, ok1, *_), (t2, ok2, *_) in zip(rows, rows[1:]):
        if t1 <= t <= t2:
            return ok1 + (ok2 - ok1) * ((t - t1) / (t2 - t1) if t2 > t1 else 1.0)
    return rows[-1][1]


def rtt_samples(d):
    """(UAC clock ms, INVITE->200 ms) of every call in SIPp's -trace_rtt files
    in `d`, or None without a file."""
    files = sorted(glob.glob(os.path.join(d, "*_rtt.csv")))
    if not files:
        return None
    out = []
    for fn in files:
        with open(fn, newline="") as f:
            for r in csv.reader(f, delimiter=";"):
                if len(r) < 3 or r[2].strip() not in ("1", "rtd1"):
                    continue
                try:
                    out.append((float(r[0]), float(r[1])))
                except ValueError:
                    continue
    return out


def rtt_values(samples, lo_ms, hi_ms):
    """INVITE->200 times (ms) of `rtt_samples`, in [lo_ms, hi_ms] of the UAC's
    clock if there are enough there, else all of them."""
    if samples is None:
        return None
    allv = [v for _, v in samples]
    win = [v for at, v in samples if lo_ms <= at <= hi_ms]
    vals = win if len(win) >= 100 else allv
    return sorted(vals) if vals else None


def rtt_per_second(samples, lo_ms, hi_ms):
    """INVITE->200 p50/p99 (ms) per whole second of the UAC's clock in
    [lo_ms, hi_ms], from `rtt_samples`: the view in which a latency step
    (e.g. at a table swap) would show, which window percentiles hide.
    A list of {"t_s", "n", "p50_ms", "p99_ms"}, or None without the file."""
    if samples is None:
        return None
    by_s = {}
    for at, v in samples:
        if lo_ms <= at <= hi_ms:
            by_s.setdefault(int(at // 1000), []).append(v)
    out = []
    for s in sorted(by_s):
        vals = sorted(by_s[s])
        out.append({"t_s": s, "n": len(vals), "p50_ms": pct(vals, 0.50), "p99_ms": pct(vals, 0.99)})
    return out or None


def pct(sorted_vals, q):
    if not sorted_vals:
        return None
    k = max(0, math.ceil(q * len(sorted_vals)) - 1)
    return sorted_vals[k]


UNIT = {"_ns": 1e-6, "_us": 1e-3, "_ms": 1.0, "_s": 1e3}


def latency_from_json(text):
    """p50/p99 (ms) from trunkload's --json report, if it has them: the first
    object holding p50* and p99* keys (unit from a _ns/_us/_ms/_s suffix, ms
    without one), preferring one under a key naming rtd/response/latency."""
    obj = None
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
                break
            except ValueError:
                continue
    if obj is None:
        try:
            obj = json.loads(text[text.index("{"):])
        except ValueError:
            return None
    found = []

    def walk(o, path):
        if isinstance(o, dict):
            keys = {k.lower(): k for k in o}
            p50 = next((k for k in keys if k.startswith("p50")), None)
            p99 = next((k for k in keys if k.startswith("p99")), None)
            if p50 and p99:
                found.append((path, keys[p50], keys[p99], o))
            for k, v in o.items():
                walk(v, path + "/" + str(k).lower())
        elif isinstance(o, list):
            for v in o:
                walk(v, path)

    walk(obj, "")
    if not found:
        return None
    found.sort(key=lambda f: not any(w in f[0] for w in ("rtd", "response", "latency", "invite")))
    _, k50, k99, o = found[0]

    def ms(k):
        v = o[k]
        if not isinstance(v, (int, float)):
            return None
        for suffix, mult in UNIT.items():
            if k.lower().endswith(suffix):
                return v * mult
        return float(v)

    return {"p50_ms": ms(k50), "p99_ms": ms(k99), "source": "trunkload --json"}


def ms_str(v, source=""):
    """A latency in ms; SIPp's are whole milliseconds (truncated), so 0 is <1."""
    if v is None:
        return "-"
    if "ms resolution" in source:
        return "<1" if v == 0 else f"{v:.0f}"
    return f"{v:.2f}" if v < 10 else f"{v:.0f}"


def run_step(args, bins, peer, rate, label):
    d = tempfile.mkdtemp(prefix=f"{peer}-{rate}-", dir=args.tmp)
    os.makedirs(os.path.join(d, "uac"))
    os.makedirs(os.path.join(d, "uas"))
    calls = args.calls or max(1, round(rate * args.duration))
    dur = calls / rate  # seconds during which the UAC starts calls
    w_from, w_to = args.warmup, dur - args.tail
    if w_to - w_from < 1.0:
        raise SetupError(f"the window t = {w_from:.1f}..{w_to:.1f} s is too short: raise --duration or --calls")
    timeout = math.ceil(dur + args.call_ms / 1000 + 40)
    wait_free(args.ip, [args.router_port, args.uac_port, args.uas_port])
    drops0 = udp_errors()
    router, router_sig = start_router(args, peer, bins, d)
    uas = uac = None
    try:
        wait_bound(args.ip, args.router_port, router, peer)
        time.sleep(0.2)
        uas = spawn(driver_argv(args, bins, "uas"), os.path.join(d, "uas"), "uas")
        wait_bound(args.ip, args.uas_port, uas, f"{args.driver} uas")
        uac_argv = driver_argv(args, bins, "uac", rate, calls, timeout)
        uac = spawn(uac_argv, os.path.join(d, "uac"), "uac")
        t0 = time.time()
        rpids = tree(router.pid)
        time.sleep(max(0.0, t0 + w_from - time.time()))
        if uac.poll() is not None and uac.returncode not in (0, 1):
            raise SetupError(f"{args.driver} uac exited with status {uac.returncode}: "
                             f"{shlex.join(uac_argv)}\n{log_tail(uac)}")
        rpids = tree(router.pid)
        dpids = tree(uac.pid) + tree(uas.pid)
        swapper = Swapper(args, router.pid) if args.swap_every else None
        r1, dr1, c1, w1 = cpu_sample(rpids), cpu_sample(dpids), cpu_times(), time.time()
        sw1 = ctx_switches(rpids)
        syscalls = None
        if args.perf:  # profile the router over the window (perf's own CPU is not the router's)
            out = os.path.join(args.perf, f"{peer}-{args.mode}-{rate}.data")
            subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000", "-g", "-o", out,
                            "-p", ",".join(map(str, rpids)), "--", "sleep", f"{max(0.1, t0 + w_to - time.time()):.3f}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elif args.count_syscalls:  # counted over the window (perf stat -p: every thread)
            syscalls = count_syscalls(rpids, t0 + w_to - time.time())
        time.sleep(max(0.0, t0 + w_to - time.time()))
        rpids = tree(router.pid)
        sw2 = ctx_switches(rpids)
        r2, dr2, c2, w2 = cpu_sample(rpids), cpu_sample(dpids), cpu_times(), time.time()
        sdrops = socket_drops([args.router_port, args.uac_port, args.uas_port])
        try:
            uac.wait(timeout=max(1.0, t0 + timeout + 10 - time.time()))
        except subprocess.TimeoutExpired:
            pass
        swaps = swapper.stop() if swapper else 0
        uac_status = uac.poll()
        stop(uac, signal.SIGKILL, 1)
        router_alive = router.poll() is None
        drops = udp_errors() - drops0
    finally:
        for p in (uac, uas):
            if p is not None:
                stop(p, signal.SIGTERM, 5)
        stop(router, router_sig, 8)

    udir = os.path.join(d, "uac")
    stat = os.path.join(udir, "stat.csv")
    rows = stat_rows(stat) if os.path.exists(stat) else []
    if not rows:
        raise SetupError(f"{args.driver} uac wrote no -trace_stat CSV ({stat}): {shlex.join(uac_argv)}\n{log_tail(uac)}")
    ok_total, failed_total, created = rows[-1][1], rows[-1][2], rows[-1][3]
    win_calls = ok_at(rows, w2) - ok_at(rows, w1)
    wall = w2 - w1
    ru, rs = cpu_delta(r1, r2)
    du, ds = cpu_delta(dr1, dr2)
    dcpus = sorted(set(args.uac_cpus) | set(args.uas_cpus))
    r_busy = busy_share(c1, c2, args.router_cpus, wall)
    d_busy = busy_share(c1, c2, dcpus, wall)
    steal = sum(c2[c][1] - c1[c][1] for c in c2) / wall if wall > 0 else None
    # CPU time on our CPUs that neither the router nor the driver used
    # (other processes, interrupts; steal): measurements are noisy above ~0.1
    others = {
        "router_cpus": round(max(0.0, r_busy * len(args.router_cpus) - (ru + rs) / wall), 3),
        "driver_cpus": round(max(0.0, d_busy * len(dcpus) - (du + ds) / wall), 3),
    } if wall > 0 else {}
    counters = None
    if peer.startswith("trunkline"):  # the router prints its counters when it stops
        try:
            with open(os.path.join(d, "router.err"), errors="replace") as f:
                counters = next((ln.strip() for ln in f if ln.startswith("total:")), None)
        except OSError:
            pass
    per = (lambda x: x / win_calls * 1e6) if win_calls > 0 else (lambda x: None)
    per_call = (lambda x: round(x / win_calls, 3)) if win_calls > 0 else (lambda x: None)
    switches = {"voluntary_per_call": per_call(sw2[0] - sw1[0]),
                "involuntary_per_call": per_call(sw2[1] - sw1[1]),
                "minor_faults_per_call": per_call(sw2[2] - sw1[2])}
    # perf stat's window starts a little after w1 and ends at w2: per call
    # over the calls completed in the same span, by the stat CSV.
    syscalls_per_call = ({k: per_call(v) for k, v in syscalls.items()} if syscalls else None)

    samples = rtt_samples(udir)
    lat = None
    if args.driver == "trunkload":
        try:
            with open(os.path.join(udir, "uac.out"), errors="replace") as f:
                lat = latency_from_json(f.read())
        except OSError:
            lat = None
    if lat is None:
        vals = rtt_values(samples, w_from * 1000, w_to * 1000)
        if vals:
            lat = {"p50_ms": pct(vals, 0.50), "p99_ms": pct(vals, 0.99), "samples": len(vals),
                   "source": "-trace_rtt (ms resolution)" if args.driver == "sipp" else "-trace_rtt"}
    if lat is None:
        lat = {"p50_ms": None, "p99_ms": None, "source": "none"}
    per_second = rtt_per_second(samples, w_from * 1000, w_to * 1000)

    acks = uas_acks(os.path.join(d, "uas"))
    unfinished = calls - ok_total - failed_total
    bad = calls - ok_total  # failed + never finished
    achieved = win_calls / wall if wall > 0 else 0.0
    reasons = []
    if created is not None and created < calls:
        reasons.append(f"created {created}/{calls}")
    if unfinished > 0:
        reasons.append(f"{unfinished} unfinished")
    if bad / calls >= args.fail_threshold:
        reasons.append(f"failed {bad / calls:.2%}")
    if achieved < args.min_achieved * rate:
        reasons.append(f"achieved {achieved:.0f}/s < {args.min_achieved:.0%}")
    if lat["p99_ms"] is not None and lat["p99_ms"] > args.max_p99_ms:
        reasons.append(f"p99 {lat['p99_ms']:.0f} ms")
    if acks is not None and ok_total - acks >= max(1, args.fail_threshold * calls):
        reasons.append(f"UAS got {acks} ACKs for {ok_total} calls")
    if not router_alive:
        reasons.append(f"router exited ({router.returncode})")
    res = {
        "peer": peer, "rate": rate, "calls": calls, "successful": ok_total, "failed": failed_total,
        "unfinished": unfinished, "uas_acks": acks, "failed_ratio": bad / calls, "uac_status": uac_status,
        "window_s": [round(w_from, 3), round(w_to, 3)], "window_wall_s": round(wall, 3),
        "window_calls": round(win_calls, 1), "cps": round(achieved, 1),
        "router_utime_s": round(ru, 3), "router_stime_s": round(rs, 3),
        "router_cores": round((ru + rs) / wall, 3) if wall > 0 else None,
        "router_processes": len(r2),
        "driver_cores": round((du + ds) / wall, 3) if wall > 0 else None,
        "router_cpus_busy": round(r_busy, 3), "driver_cpus_busy": round(d_busy, 3),
        "steal_cores": round(steal, 3), "other_load_cores": others, "router_counters": counters,
        "udp_buffer_drops": drops,
        "socket_drops_to_window_end": {"router": sdrops[args.router_port], "uac": sdrops[args.uac_port],
                                       "uas": sdrops[args.uas_port]},
        "utime_us_per_call": per(ru), "stime_us_per_call": per(rs), "cpu_us_per_call": per(ru + rs),
        "latency": lat, "pass": not reasons, "reasons": reasons, "dir": d,
        "table_swaps": swaps, "latency_per_second": per_second,
        "context_switches": switches, "syscalls_per_call": syscalls_per_call,
    }
    f1 = lambda v: "-" if v is None else f"{v:.1f}"
    say(f"  {label:<12} rate {rate:>6}  {'PASS' if res['pass'] else 'FAIL'}  cps {achieved:7.0f}  "
        f"failed {bad}/{calls}  router {res['router_cores'] or 0:.2f} cores  "
        f"user {f1(res['utime_us_per_call'])} sys {f1(res['stime_us_per_call'])} us/call  "
        f"driver {res['driver_cores'] or 0:.2f} cores  CPUs busy router {r_busy:.0%} driver {d_busy:.0%}  "
        f"INVITE->200 p50 {ms_str(lat['p50_ms'], lat['source'])} p99 {ms_str(lat['p99_ms'], lat['source'])} ms"
        + (f"  ({', '.join(reasons)})" if reasons else "")
        + (f"  [{swaps} table swaps]" if args.swap_every else "")
        + (f"  [per call: {f1(switches['voluntary_per_call'])} voluntary + "
           f"{f1(switches['involuntary_per_call'])} involuntary context switches, "
           f"{f1(switches['minor_faults_per_call'])} minor page faults]"
           if args.count_switches and switches["voluntary_per_call"] is not None else "")
        + (f"  [syscalls per call: " + ", ".join(f"{k} {v:.2f}" for k, v in syscalls_per_call.items() if v)
           + "]" if syscalls_per_call else "")
        + (f"  [p99 per second: median {statistics.median(s['p99_ms'] for s in per_second):.2f}, "
           f"max {max(s['p99_ms'] for s in per_second):.2f} ms over {len(per_second)} s]"
           if per_second and (args.swap_every or args.per_second) else "")
        + (f"  [UDP buffer drops: {drops} in the step; by t = {w_to:g} s router {sdrops[args.router_port]}, "
           f"uac {sdrops[args.uac_port]}, uas {sdrops[args.uas_port]}]" if drops else "")
        + ("" if max(others.values(), default=0) < args.noise else
           f"  [noisy: other load {others['router_cpus']:.2f} cores on the router CPUs, "
           f"{others['driver_cpus']:.2f} on the driver's]"))
    if not args.keep:
        shutil.rmtree(d, ignore_errors=True)
        res["dir"] = None
    return res


# --------------------------------------------------------------------------
# Search

def search(args, bins, peer, rep):
    label = f"{peer}#{rep + 1}" if args.repeats > 1 else peer
    steps = []
    if args.rate:
        s = run_step(args, bins, peer, args.rate, label)
        return {"best": s if s["pass"] else None, "first_fail": None if s["pass"] else s, "steps": [s]}

    def up(r):
        return min(args.max_rate, max(r + 1, r + args.step if args.step else round(r * args.ramp)))

    rate, last_pass, first_fail = args.start_rate, None, None
    while True:  # the start rate fails: come down until a step passes
        s = run_step(args, bins, peer, rate, label)
        steps.append(s)
        if s["pass"]:
            break
        first_fail = s
        if rate <= args.min_rate:
            return {"best": None, "first_fail": first_fail, "steps": steps}
        rate = max(args.min_rate, min(rate - 1, rate - args.step if args.step else round(rate / args.ramp)))
    last_pass = s
    rate = up(rate)
    while first_fail is None and last_pass["rate"] < args.max_rate:
        s = run_step(args, bins, peer, rate, label)
        steps.append(s)
        if not s["pass"]:
            first_fail = s
            break
        last_pass = s
        rate = up(rate)
    while last_pass and first_fail and (first_fail["rate"] - last_pass["rate"]) > max(1, args.precision * last_pass["rate"]):
        mid = round((last_pass["rate"] + first_fail["rate"]) / 2)
        s = run_step(args, bins, peer, mid, label)
        steps.append(s)
        if s["pass"]:
            last_pass = s
        else:
            first_fail = s
    return {"best": last_pass, "first_fail": first_fail, "steps": steps}


def limit_of(args, first_fail):
    """Which side ran out at the first failing step."""
    if first_fail is None:
        return "max-rate" if not args.rate else "-"
    r_full = (first_fail.get("router_cpus_busy") or 0) >= 0.9
    d_full = (first_fail.get("driver_cpus_busy") or 0) >= 0.9
    others = first_fail.get("other_load_cores") or {}
    mark = lambda side: "*" if others.get(side + "_cpus", 0) >= args.noise else ""
    if r_full and d_full:
        return "both" + ("*" if mark("router") or mark("driver") else "")
    if r_full:
        return "router" + mark("router")
    if d_full:
        return "driver" + mark("driver")
    return "neither"


def brief_fail(st):
    """Why the step above the best one failed, in a few words."""
    if st is None:
        return None
    drops = st.get("socket_drops_to_window_end") or {}
    d = ", ".join(f"{k} {v}" for k, v in drops.items() if v)
    return (f"{st['rate']}/s: {', '.join(st['reasons'])}; CPUs busy router {st['router_cpus_busy']:.0%}, "
            f"driver {st['driver_cpus_busy']:.0%}" + (f"; UDP drops at {d}" if d else ""))


def summarize(args, peer, runs):
    bests = [r["best"] for r in runs if r["best"]]
    out = {"peer": peer, "mode": args.mode if peer != "relay" else "blind",
           "repeats": len(runs), "sustained": bool(bests)}
    if not bests:
        out["limit"] = limit_of(args, runs[0]["first_fail"])
        out["first_fail"] = brief_fail(runs[0]["first_fail"])
        return out
    bests_sorted = sorted(bests, key=lambda b: b["rate"])
    med = bests_sorted[(len(bests_sorted) - 1) // 2]
    run = next(r for r in runs if r["best"] is med)
    out.update({
        "best_rate": med["rate"], "best_rates": [b["rate"] for b in bests],
        "cps": med["cps"], "window_calls": med["window_calls"],
        "router_cores": med["router_cores"], "driver_cores": med["driver_cores"],
        "router_cpus_busy": med["router_cpus_busy"], "driver_cpus_busy": med["driver_cpus_busy"],
        "utime_us_per_call": med["utime_us_per_call"], "stime_us_per_call": med["stime_us_per_call"],
        "cpu_us_per_call": med["cpu_us_per_call"],
        "context_switches": med["context_switches"], "syscalls_per_call": med["syscalls_per_call"],
        "p50_ms": med["latency"]["p50_ms"], "p99_ms": med["latency"]["p99_ms"],
        "latency_source": med["latency"]["source"], "failed": med["calls"] - med["successful"],
        "calls": med["calls"], "limit": limit_of(args, run["first_fail"]),
        "noisy_steps": sum(1 for r in runs for st in r["steps"]
                           if max(st["other_load_cores"].values(), default=0) >= args.noise),
        "steps": sum(len(r["steps"]) for r in runs),
        "first_fail": brief_fail(run["first_fail"]),
    })
    return out


# --------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="End-to-end SIP router bench: highest sustained CPS with < 0.1%% failed calls, "
                    "router CPU per call (user and system) from /proc, INVITE->200 p50/p99.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--peer", default="trunkline",
                    help="router(s), comma-separated, measured one after the other in this run: "
                         "trunkline, kamailio, relay (the blind relay, the kernel floor), "
                         "trunkline-edge (with --edge-config, examples/edge.toml: the UAC is alice, "
                         "digest-authenticated), kamailio-edge (the same ingress recipe: pike, "
                         "checks, digest)")
    ap.add_argument("--driver", choices=("sipp", "trunkload"), default="trunkload",
                    help="UAC/UAS load generator (trunkload; sipp: SIPp, Debian sip-tester)")
    ap.add_argument("--mode", default="stateful",
                    help="router mode(s), comma-separated, each run with every peer in this run: "
                         "stateful, stateless (record-routing in both), dialog (stateful + a dialog per "
                         "call; trunkline also writes a CDR per call, Kamailio runs its dialog module), "
                         "topology-hiding (dialog + topology hiding; Kamailio's topoh)")
    ap.add_argument("--scenario", choices=("rrs", "builtin"), default="rrs",
                    help="rrs: SIPp's uac/uas with a real route set (ACK/BYE loose-routed); "
                         "builtin: -sn uac / -sn uas")
    ap.add_argument("--router-cpus", default=None, help="taskset list for the router (default: the last CPU)")
    ap.add_argument("--uac-cpus", default=None, help="taskset list for the UAC (default: CPU 0)")
    ap.add_argument("--uas-cpus", default=None, help="taskset list for the UAS (default: CPU 0)")
    ap.add_argument("--shards", type=int, default=None, help="trunkline shards (default: one per router CPU)")
    ap.add_argument("--kamailio-children", type=int, default=None,
                    help="Kamailio UDP workers (default: one per router CPU)")
    ap.add_argument("--start-rate", type=int, default=1000, help="first offered rate, calls/s")
    ap.add_argument("--max-rate", type=int, default=100000, help="highest rate tried")
    ap.add_argument("--min-rate", type=int, default=10,
                    help="when --start-rate fails, come down (divide by --ramp) no lower than this")
    ap.add_argument("--ramp", type=float, default=1.3, help="multiply the rate by this after each passing step")
    ap.add_argument("--step", type=int, default=None,
                    help="add this many calls/s after each passing step instead of multiplying by --ramp")
    ap.add_argument("--precision", type=float, default=0.05,
                    help="bisect until the first failing rate is within this fraction of the best")
    ap.add_argument("--rate", type=int, default=None, help="run one step at this rate instead of searching")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of new calls per step")
    ap.add_argument("--calls", type=int, default=None,
                    help="calls per step (SIPp -m); default rate x duration, and sets the step's length")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds from the UAC's start to the window")
    ap.add_argument("--tail", type=float, default=1.0, help="seconds before the last new call that end the window")
    ap.add_argument("--call-ms", type=int, default=1000, help="call length (SIPp -d), ms")
    ap.add_argument("--limit", type=int, default=None, help="SIPp -l (simultaneous calls)")
    ap.add_argument("--fail-threshold", type=float, default=0.001, help="a step fails at this ratio of failed calls")
    ap.add_argument("--min-achieved", type=float, default=0.97, help="a step fails below this share of the offered rate")
    ap.add_argument("--max-p99-ms", type=float, default=200.0, help="a step fails above this INVITE->200 p99")
    ap.add_argument("--noise", type=float, default=0.15,
                    help="flag a step when other load on our CPUs exceeds this many cores")
    ap.add_argument("--repeats", type=int, default=1, help="searches per peer (peers alternate); the median is reported")
    ap.add_argument("--ip", default="127.0.0.1")
    ap.add_argument("--edge-config", default=os.path.join(ROOT, "examples", "edge.toml"),
                    help="trunkline-edge's --config (its listen address and route are overridden)")
    ap.add_argument("--router-port", type=int, default=15060)
    ap.add_argument("--uac-port", type=int, default=15061)
    ap.add_argument("--uas-port", type=int, default=15070)
    ap.add_argument("--driver-bin", default=None,
                    help="the driver program to run instead of sipp from PATH or target/release/trunkload")
    ap.add_argument("--buff-size", type=int, default=1048576,
                    help="driver socket buffers (-buff_size; SIPp's 65535 drops datagrams at the UAC "
                         "from ~4,000 calls/s on loopback; the kernel caps it at net.core.rmem_max); 0 = the driver's default")
    ap.add_argument("--uac-args", default="", help="extra UAC arguments (shell-quoted)")
    ap.add_argument("--uas-args", default="", help="extra UAS arguments (shell-quoted)")
    ap.add_argument("--lcr-rules", type=int, default=0,
                    help="trunkline only: route every INVITE by least-cost routing over a generated table of this "
                         "many prefix rules (the UAS is the gateway; the UAC dials +14155550123)")
    ap.add_argument("--swap-every", type=float, default=0.0,
                    help="with --lcr-rules: put the other of two tables in service every this many seconds "
                         "during each step (rename + SIGHUP)")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already in target/release")
    ap.add_argument("--perf", metavar="DIR", default=None,
                    help="perf record (cpu-clock, call graphs) the router over each step's window into DIR")
    ap.add_argument("--count-switches", action="store_true",
                    help="print the router's context switches and minor page faults per call over each "
                         "step's window (every thread's /proc/PID/task/*/status; always in --json)")
    ap.add_argument("--count-syscalls", action="store_true",
                    help="count the router's syscalls per call over each step's window (perf stat on "
                         "syscall tracepoints; adds a little to the router's CPU; not with --perf)")
    ap.add_argument("--per-second", action="store_true",
                    help="print each step's INVITE->200 p99 per second (median and max; always in --json)")
    ap.add_argument("--json", action="store_true", help="print the report as JSON on stdout (progress to stderr)")
    ap.add_argument("--keep", action="store_true", help="keep every step's logs, CSVs and configs (path printed)")
    ap.add_argument("--smoke", action="store_true",
                    help="check the harness works: one 4 s step at 50 calls/s per peer (overrides rates/durations)")
    args = ap.parse_args(argv)
    args.peers = [p.strip() for p in args.peer.split(",") if p.strip()]
    args.modes = [m.strip() for m in args.mode.split(",") if m.strip()]
    for m in args.modes:
        if m not in MODES:
            ap.error(f"--mode {m}: expected one of {', '.join(MODES)}")
    if any(m in ("dialog", "topology-hiding") for m in args.modes) and (
            set(args.peers) - {"trunkline", "kamailio"}):
        ap.error("--mode dialog/topology-hiding: with --peer trunkline and/or kamailio")
    args.mode = args.modes[0]
    for p in args.peers:
        if p not in PEERS:
            ap.error(f"--peer {p}: expected one of {', '.join(PEERS)}")
    if "-edge" in args.peer and args.scenario != "rrs":
        ap.error("the -edge peers need --scenario rrs (its UAC answers their 407)")
    if args.lcr_rules and args.peers != ["trunkline"]:
        ap.error("--lcr-rules: only with --peer trunkline (the other peers have no routing table)")
    if args.swap_every and not args.lcr_rules:
        ap.error("--swap-every needs --lcr-rules")
    if args.lcr_rules and args.modes != ["stateful"]:
        ap.error("--lcr-rules needs --mode stateful")
    if args.smoke:
        args.rate = args.rate or 50
        args.duration, args.warmup, args.tail, args.call_ms, args.repeats = 4.0, 1.0, 0.5, 500, 1
        args.calls = None
    last = max(os.sched_getaffinity(0))
    try:
        args.router_cpus = cpu_list(args.router_cpus or str(last), "--router-cpus")
        args.uac_cpus = cpu_list(args.uac_cpus or "0", "--uac-cpus")
        args.uas_cpus = cpu_list(args.uas_cpus or "0", "--uas-cpus")
    except SetupError as e:
        ap.error(str(e))
    if args.count_syscalls and args.perf:
        ap.error("--count-syscalls and --perf both attach perf to the router: use one")
    if args.count_syscalls and not shutil.which("perf"):
        ap.error("--count-syscalls: perf not found (apt-get install linux-perf)")
    if args.perf:
        if not shutil.which("perf"):
            ap.error("--perf: perf not found (apt-get install linux-perf)")
        args.perf = os.path.abspath(args.perf)
        os.makedirs(args.perf, exist_ok=True)
    if len({args.router_port, args.uac_port, args.uas_port}) < 3:
        ap.error("--router-port, --uac-port and --uas-port must differ")
    if not 1 <= args.min_rate <= args.start_rate <= args.max_rate or args.ramp <= 1.0:
        ap.error("need 1 <= --min-rate <= --start-rate <= --max-rate and --ramp > 1")
    if args.step is not None and args.step < 1:
        ap.error("--step must be at least 1")
    return args


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def report(args, meta, summaries):
    say("")
    say(f"trunkline end-to-end bench, {meta['date']}")
    say(f"  command: {meta['command']}")
    say(f"  machine: {meta['machine']['cpu_model']}, {meta['machine']['cpus']} CPUs, "
        f"kernel {meta['machine']['kernel']}, {meta['machine']['memory']}; trunkline {meta['git']}"
        + (f" ({meta['rustc']})" if meta.get("rustc") else ""))
    say(f"  driver:  {meta['driver_version']} ({args.scenario} scenario, {args.call_ms} ms calls); "
        f"router on CPU {csv_cpus(args.router_cpus)}, UAC on {csv_cpus(args.uac_cpus)}, "
        f"UAS on {csv_cpus(args.uas_cpus)}")
    if meta.get("kamailio_version"):
        say(f"  peer:    {meta['kamailio_version']}")
    say(f"  steps:   {args.duration:g} s, window t = {args.warmup:g} s .. end - {args.tail:g} s; pass = failed < "
        f"{args.fail_threshold:.1%}, achieved >= {args.min_achieved:.0%}, p99 <= {args.max_p99_ms:g} ms")
    say("")
    hdr = (f"{'router':<10} {'mode':<15} {'best CPS':>9} {'router cores':>12} {'user us/call':>12} "
           f"{'sys us/call':>11} {'total us/call':>13} {'p50 ms':>6} {'p99 ms':>6} {'limit':>8}")
    say(hdr)
    say("-" * len(hdr))
    for s in summaries:
        if not s["sustained"]:
            say(f"{s['peer']:<10} {s['mode']:<15} {'none':>9}  (no rate passed; limit: {s['limit']})")
            continue
        say(f"{s['peer']:<10} {s['mode']:<15} {s['cps']:>9,.0f} {fmt(s['router_cores'], '.2f'):>12} "
            f"{fmt(s['utime_us_per_call'], '.1f'):>12} {fmt(s['stime_us_per_call'], '.1f'):>11} "
            f"{fmt(s['cpu_us_per_call'], '.1f'):>13} {ms_str(s['p50_ms'], s['latency_source']):>6} "
            f"{ms_str(s['p99_ms'], s['latency_source']):>6} "
            f"{s['limit']:>8}")
    for s in summaries:
        if s.get("repeats", 1) > 1 and s.get("best_rates"):
            r = s["best_rates"]
            say(f"{s['peer']}: best offered rate per repeat {', '.join(map(str, r))} "
                f"(median {sorted(r)[(len(r) - 1) // 2]}, min {min(r)}, max {max(r)}; "
                f"{s['repeats'] - len(r)} repeats sustained none)")
    for s in summaries:
        if s.get("first_fail"):
            say(f"{s['peer']}: first failing step {s['first_fail']}")
    for s in summaries:
        if s.get("noisy_steps"):
            say(f"note: {s['noisy_steps']} of {s['steps']} {s['peer']} steps had other load >= {args.noise:g} cores "
                f"on the CPUs under test ([noisy] above): the machine was not quiet")
    if args.count_switches or args.count_syscalls:
        for s in summaries:
            if not s["sustained"]:
                continue
            cs, sc = s.get("context_switches") or {}, s.get("syscalls_per_call")
            say(f"{s['peer']}: per call, context switches {fmt(cs.get('voluntary_per_call'), '.2f')} voluntary + "
                f"{fmt(cs.get('involuntary_per_call'), '.2f')} involuntary, "
                f"{fmt(cs.get('minor_faults_per_call'), '.2f')} minor page faults"
                + (f"; syscalls {', '.join(f'{k} {v:.2f}' for k, v in sc.items() if v)}" if sc else ""))
    def ratio(s, ref, what):
        def r(k):
            return s[k] / ref[k] if s.get(k) is not None and ref.get(k) else float("nan")
        say(f"{s['peer']} ({s['mode']}) / {what}, same run: sustained CPS {r('cps'):.2f}x; router CPU per call "
            f"{r('cpu_us_per_call'):.2f}x (user {r('utime_us_per_call'):.2f}x, system {r('stime_us_per_call'):.2f}x)")
    for s in summaries:
        if not s["sustained"]:
            continue
        # Against Kamailio doing the same job (the same mode) ...
        ref = next((k for k in summaries if k["peer"] == "kamailio" and k["mode"] == s["mode"]
                    and k["sustained"]), None)
        if ref and ref is not s:
            ratio(s, ref, f"kamailio ({ref['mode']})")
        # ... and a feature's cost against plain stateful proxying.
        plain = next((k for k in summaries if k["peer"] == s["peer"] and k["mode"] == "stateful"
                      and k["sustained"]), None)
        if plain and plain is not s and s["mode"] in ("dialog", "topology-hiding"):
            ratio(s, plain, f"{s['peer']} (stateful)")
    say("")
    say("best CPS: calls/s completed in the window of the highest passing step (median of repeats); "
        "us/call: router CPU in that window / calls completed in it; limit: what was saturated "
        "(its CPUs >= 90% busy) at the first failing step: router, driver, both, or neither (calls lost or "
        "late with CPU to spare); * = other processes used >= --noise cores of those CPUs. The user/system "
        "split is the kernel's tick sampling (noisy in short windows); the total is exact.")


def main(argv):
    global OUT
    args = parse_args(argv)
    if args.json:
        OUT = sys.stderr
    args.tmp = tempfile.mkdtemp(prefix="trunkline-e2e-")
    with open(os.path.join(args.tmp, "uac.xml"), "w") as f:
        f.write(UAC_XML)
    with open(os.path.join(args.tmp, "uas.xml"), "w") as f:
        f.write(UAS_XML)
    try:
        bins = binaries(args)
        if args.lcr_rules:
            args.lcr_table = build_lcr_tables(args, bins)
        overlap = set(args.router_cpus) & (set(args.uac_cpus) | set(args.uas_cpus))
        if overlap:
            say(f"warning: the router shares CPU(s) {sorted(overlap)} with the driver")
        git = first_line(["git", "-C", ROOT, "describe", "--always", "--dirty"]) or "?"
        meta = {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "command": shlex.join([sys.argv[0]] + argv), "machine": machine(), "git": git,
            "driver_version": f"{first_line([bins[args.driver], '-v']) or args.driver} ({bins[args.driver]})",
            "kamailio_version": first_line([bins["kamailio"], "-v"]) if "kamailio" in bins else None,
            "rustc": first_line(["rustc", "-V"]) if "trunkline" in bins else None,
        }
        say(f"{meta['date']}: {', '.join(args.peers)} ({', '.join(args.modes)}), driver {args.driver}, "
            f"router CPU {csv_cpus(args.router_cpus)}, UAC {csv_cpus(args.uac_cpus)}, UAS {csv_cpus(args.uas_cpus)}; "
            f"logs in {args.tmp}" + ("" if args.keep else " (removed; --keep keeps them)"))
        pairs = [(m, p) for m in args.modes for p in args.peers]
        runs = {mp: [] for mp in pairs}
        for rep in range(args.repeats):
            for mode, peer in pairs:
                args.mode = mode  # what start_router and the step read
                runs[(mode, peer)].append(search(args, bins, peer, rep))
        summaries = []
        for mode, peer in pairs:
            args.mode = mode
            summaries.append(summarize(args, peer, runs[(mode, peer)]))
        report(args, meta, summaries)
        if args.json:
            out = {"meta": meta, "options": {k: v for k, v in vars(args).items() if k != "tmp"},
                   "results": summaries,
                   "steps": {f"{p}/{m}": [r["steps"] for r in runs[(m, p)]] for m, p in pairs}}
            json.dump(out, sys.stdout, indent=2)
            print()
        return 0 if all(s["sustained"] for s in summaries) else 1
    except SetupError as e:
        print(f"e2e: {e}", file=sys.stderr)
        return 2
    finally:
        kill_all()
        if not args.keep:
            shutil.rmtree(args.tmp, ignore_errors=True)
        else:
            say(f"logs kept in {args.tmp}")


def on_signal(signum, _frame):
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    atexit.register(kill_all)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    signal.signal(signal.SIGINT, on_signal)  # even when started in the background with SIGINT ignored
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        kill_all()
        print("e2e: interrupted; children killed", file=sys.stderr)
        sys.exit(130)

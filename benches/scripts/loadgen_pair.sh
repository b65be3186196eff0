#!/bin/sh
# trunkload uac -> trunkload uas against sipp uac -> sipp uas on loopback,
# uac pinned to CPU 0 and uas to CPU 1, one run per (driver, rate):
# achieved calls/s, failed calls, and each side's CPU per call (utime and
# stime from /usr/bin/time). Usage: benches/scripts/loadgen_pair.sh [SECONDS]
# Needs sipp (Debian sip-tester) and a release build of trunkload.
set -u
SECS=${1:-8}
T=${TRUNKLOAD:-target/release/trunkload}
OUT=$(mktemp -d)
echo "# $(date -u '+%Y-%m-%d %H:%M UTC') $(uname -r) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) ; ${SECS} s per run"
printf '%-9s %7s %9s %7s %9s %9s %9s %9s\n' driver rate calls/s failed uac_usr uac_sys uas_usr uas_sys
echo '# calls/s: cumulative call rate on the uac screen; *_usr/*_sys: CPU us per successful call of each side'
run() { # driver bin rate extra...
  drv=$1; bin=$2; rate=$3; shift 3
  m=$((rate * SECS))
  /usr/bin/time -f '%U %S' -o "$OUT/uas.t" taskset -c 1 "$bin" -sn uas -i 127.0.0.1 -p 16200 -m "$m" \
      -timeout $((SECS + 12))s -nostdin -buff_size 1048576 "$@" > "$OUT/uas.out" 2>&1 &
  sleep 0.5
  /usr/bin/time -f '%U %S' -o "$OUT/uac.t" taskset -c 0 "$bin" 127.0.0.1:16200 -sn uac -i 127.0.0.1 -p 16201 \
      -m "$m" -r "$rate" -timeout $((SECS + 30))s -nostdin -buff_size 1048576 "$@" > "$OUT/uac.out" 2>&1
  wait
  ok=$(grep 'Successful call' "$OUT/uac.out" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  bad=$(grep 'Failed call' "$OUT/uac.out" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  # The cumulative call rate (SIPp's Elapsed Time line repeats the
  # periodic value at exit, so it cannot be used).
  cr=$(grep 'Call Rate' "$OUT/uac.out" | tail -1 | awk -F'|' '{print $3}' | awk '{print $1}')
  set -- $(cat "$OUT/uac.t" | tail -1); uu=$1; us=$2
  set -- $(cat "$OUT/uas.t" | tail -1); su=$1; ss=$2
  awk -v d="$drv" -v r="$rate" -v ok="${ok:-0}" -v bad="${bad:-0}" -v cr="${cr:-0}" -v uu="$uu" -v us="$us" -v su="$su" -v ss="$ss" \
    'BEGIN { n = ok > 0 ? ok : 1; printf "%-9s %7d %9.0f %7d %9.1f %9.1f %9.1f %9.1f\n", d, r, cr, bad, uu*1e6/n, us*1e6/n, su*1e6/n, ss*1e6/n }'
  sleep 1
}
for r in ${SIPP_RATES:-3000 5000 7000 9000}; do run sipp sipp "$r"; done
for r in ${TRUNKLOAD_RATES:-10000 15000 20000 25000}; do run trunkload "$T" "$r" --shards 1; done
rm -rf "$OUT"

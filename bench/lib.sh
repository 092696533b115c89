# Shared by bench/dhcpv4-vs-kea.sh and bench/dhcpv6-vs-kea.sh (sourced, not run).
# The caller sets RATES, RETRIES, PERIOD and defines `step PID RATE NAME`
# (one perfdhcp run; returns 0 = clean, 1 = lossy, 2 = server died) and may
# define `warmup PID NAME` (an uncounted run before the ramp).

# SIGTERM, up to 30 s to exit, then SIGKILL; only ever the PID we started.
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}

# Waits (at most $3 s) until file $1 contains $2 while PID $4 lives.
wait_for_line() {
    local file=$1 needle=$2 limit=$3 pid=$4 i
    for i in $(seq $((limit * 10))); do
        grep -qF "$needle" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || { echo "server exited before $needle:" >&2; tail -20 "$file" >&2; return 1; }
        sleep 0.1
    done
    echo "no '$needle' within ${limit}s:" >&2; tail -20 "$file" >&2; return 1
}

# User + system CPU ticks of PID $1, all threads; HZ ticks a second.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

# Each step appends "name rate µs-per-exchange" here, for the CPU comparison of
# `summary`; the caller sets it once its work directory exists.
CPU_LOG=${CPU_LOG:-/dev/null}

# perfdhcp and the server share the cores: anything else running skews the result.
warn_if_busy() {
    local load
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "$1: load average before the ramp: $load"
    if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
        echo "WARNING: the machine is not idle (load $load on $(nproc) cores); results will be low and noisy" >&2
    fi
}

# Which servers a side-by-side script runs, from its first argument:
# kea, headend, floor, both (kea + headend) or all; sets run_kea, run_headend
# and run_floor to 0 or 1.
select_servers() {
    run_kea=0; run_headend=0; run_floor=0
    case $1 in
        kea) run_kea=1 ;; headend) run_headend=1 ;; floor) run_floor=1 ;;
        both) run_kea=1; run_headend=1 ;; all) run_kea=1; run_headend=1; run_floor=1 ;;
        *) echo "usage: $0 [kea|headend|both|floor|all]" >&2; exit 2 ;;
    esac
}

# The floor of a side-by-side run: headend-sim-reflector ($REFLECTOR) on
# address $2 inside namespace $1, ramped like a server; sets FLOOR_BEST.
# Uses WORK, SERVER_PID and the script's step/ramp.
floor_ramp() {
    ip netns exec "$1" "$REFLECTOR" "$2" > "$WORK/floor.txt" 2>&1 &
    SERVER_PID=$!
    wait_for_line "$WORK/floor.txt" "headend-sim-reflector: answering" 30 "$SERVER_PID"
    echo "floor: headend-sim-reflector on $2"
    ramp "$SERVER_PID" floor
    FLOOR_BEST=$BEST
    stop_pid "$SERVER_PID"; SERVER_PID=
    echo "floor: highest rate with < 0.1 % loss: $FLOOR_BEST/s"
    echo
}

# Ramps through RATES against PID $1 (name $2), up to RETRIES extra tries at a
# failing rate; sets BEST to the highest clean rate. Returns 1 if the server died.
ramp() {
    local pid=$1 name=$2 rate tries rc
    warn_if_busy "$name"
    BEST=0
    if declare -F warmup >/dev/null; then
        warmup "$pid" "$name"
        kill -0 "$pid" 2>/dev/null || { echo "$name died during the warm-up" >&2; return 1; }
    fi
    for rate in $RATES; do
        tries=0
        while :; do
            rc=0; step "$pid" "$rate" "$name" || rc=$?
            [ $rc -eq 2 ] && return 1
            [ $rc -eq 0 ] && { BEST=$rate; break; }
            tries=$((tries + 1))
            [ $tries -gt "$RETRIES" ] && return 0
        done
    done
}

# Prints the result lines for KEA_BEST / HEADEND_BEST; $1 = Kea's binary name,
# $2 = the unit ("DORA/s", "SARR/s").
summary() {
    local kea=$1 unit=$2 top
    [ -n "$KEA_BEST" ] && printf '%-18s %s %s\n' "$kea (MT $KEA_THREADS):" "$KEA_BEST" "$unit"
    [ -n "$HEADEND_BEST" ] && printf '%-18s %s %s\n' "headend:" "$HEADEND_BEST" "$unit"
    [ -n "${FLOOR_BEST:-}" ] && printf '%-18s %s %s\n' "floor (reflector):" "$FLOOR_BEST" "$unit"
    if [ -n "$KEA_BEST" ] && [ -n "$HEADEND_BEST" ] && [ "$KEA_BEST" -gt 0 ]; then
        awk -v h="$HEADEND_BEST" -v k="$KEA_BEST" 'BEGIN { printf "ratio headend/kea: %.2f\n", h / k }'
    fi
    # The rate ramp tops out where perfdhcp does on a small machine; CPU per
    # exchange at the same offered rate compares the servers below that.
    [ -f "$CPU_LOG" ] && awk -v unit="${unit%/s}" '
        { us[$1 " " $2] = $3; if (!seen[$2]++) rates[++n] = $2 }
        END {
            for (i = 1; i <= n; i++) {
                r = rates[i]; k = us["kea " r]; h = us["headend " r]
                f = us["floor " r]
                if (k != "" && h != "" && h > 0)
                    printf "CPU per %s at %d/s: kea %.0f us, headend %.0f us (kea/headend %.2f)\n", unit, r, k, h, k / h
                if (f != "" && f > 0)
                    printf "CPU per %s at %d/s: floor %.1f us%s%s\n", unit, r, f,
                        (h != "" ? sprintf(", headend %.1f x the floor", h / f) : ""),
                        (k != "" ? sprintf(", kea %.1f x the floor", k / f) : "")
            }
        }' "$CPU_LOG"
    top=${RATES##* }
    if [ -n "$HEADEND_BEST" ] && [ "$HEADEND_BEST" = "$top" ]; then
        echo "note: headend passed the top rate ($top/s); raise RATES to find its limit (perfdhcp may then be the bottleneck)"
    fi
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
}

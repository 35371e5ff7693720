#!/usr/bin/env bash
# Runs the whole Ombuds platform on this machine: builds the workspace, makes sure a
# NATS server with JetStream is there (starting one if not), starts the five
# services with their default ports, waits until each is ready and prints where
# everything is. Ctrl-C (or SIGTERM) stops the services, letting them finish
# in-flight work, and then the NATS server if this script started it.
#
#   bash deploy/dev/run.sh [--release] [SERVICE...]
#
#   --release   build and run the release binaries
#   SERVICE     run only these (intake routing sla-watchdog notification analytics);
#               default: all five
#
# Environment (every other variable is passed through to the services; see README):
#   NATS_URL           NATS to use (default nats://127.0.0.1:4222). If nothing listens
#                      there and it is on this machine, nats-server is started on its
#                      port with its store in $OMBUDS_DATA_DIR/nats.
#   OMBUDS_DATA_DIR    where the services keep their SQLite files and the notification
#                      file (default var); logs also go to $OMBUDS_DATA_DIR/log/<service>.log
#   <SERVICE>_DATABASE_URL   a store for one service, e.g. INTAKE_DATABASE_URL,
#                      SLA_WATCHDOG_DATABASE_URL=postgres://...; DATABASE_URL itself is
#                      per service, so a DATABASE_URL in the environment is ignored
#                      (five services cannot share one database)
#   OMBUDS_READY_TIMEOUT   seconds to wait for every /readyz (default 90)
#   OMBUDS_STOP_TIMEOUT    seconds to wait for the services to stop before killing
#                      them (default 45; a second Ctrl-C kills at once)
#   CARGO_TARGET_DIR   where cargo builds (default target)
#
# Exit status: 0 after a stop you asked for in which every service stopped cleanly,
# 1 when something failed (build, NATS, a service that exited or never got ready).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

ALL_SERVICES=(intake routing sla-watchdog notification analytics)
declare -A HTTP_PORT=([intake]=8081 [routing]=8082 [sla-watchdog]=8083 [notification]=8084 [analytics]=8085)
declare -A GRPC_PORT=([intake]=50051 [routing]=50052 [sla-watchdog]=50053 [notification]=50054 [analytics]=50055)

PROFILE=debug
SERVICES=()
# The comment block at the top of this file.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }
for arg in "$@"; do
    case "$arg" in
        --release) PROFILE=release ;;
        -h | --help) usage; exit 0 ;;
        -*) echo "run.sh: unknown option $arg" >&2; usage >&2; exit 2 ;;
        *)
            if [[ -z "${HTTP_PORT[$arg]+x}" ]]; then
                echo "run.sh: unknown service $arg (one of: ${ALL_SERVICES[*]})" >&2
                exit 2
            fi
            SERVICES+=("$arg")
            ;;
    esac
done
((${#SERVICES[@]})) || SERVICES=("${ALL_SERVICES[@]}")

export NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
export OMBUDS_DATA_DIR="${OMBUDS_DATA_DIR:-var}"
READY_TIMEOUT="${OMBUDS_READY_TIMEOUT:-90}"
STOP_TIMEOUT="${OMBUDS_STOP_TIMEOUT:-45}"
LOG_DIR="$OMBUDS_DATA_DIR/log"
for t in "$READY_TIMEOUT" "$STOP_TIMEOUT"; do
    [[ "$t" =~ ^[0-9]+$ ]] || { echo "run.sh: OMBUDS_READY_TIMEOUT and OMBUDS_STOP_TIMEOUT are whole seconds, not '$t'" >&2; exit 2; }
done

say() { printf '[run] %s\n' "$*"; }
die() { printf '[run] error: %s\n' "$*" >&2; exit 1; }

# Settings that must differ per service would make five services collide.
for var in DATABASE_URL OMBUDS_HTTP_ADDR OMBUDS_GRPC_ADDR; do
    if [[ -n "${!var:-}" ]]; then
        say "ignoring $var from the environment: it is per service (see the header of deploy/dev/run.sh)"
        unset "$var"
    fi
done

# ---- state for the clean-up ----------------------------------------------------
declare -A SVC_PID=()   # service -> pid
LOG_PIDS=()             # the log prefixers
NATS_PID=""             # set only when this script started nats-server
STOP_REQUESTED=0
FORCE=0

# Waits until every PID has exited or TIMEOUT seconds passed (FORCE cuts it short);
# fails in the second case.  Usage: wait_gone TIMEOUT PID...
wait_gone() {
    local timeout=$1 deadline pid alive
    shift
    deadline=$((SECONDS + timeout))
    while :; do
        alive=0
        for pid in "$@"; do
            if kill -0 "$pid" 2>/dev/null; then alive=1; fi
        done
        ((alive)) || return 0
        ((FORCE == 0 && SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

cleanup() {
    local status=$? failed=0 svc pid code
    set +e
    # Output may go to a pipe that is gone (`run.sh | tee` after Ctrl-C): a failed
    # write must not kill this script before it has stopped the services.
    trap '' PIPE
    trap - EXIT
    # A second Ctrl-C or SIGTERM while stopping: kill what is left at once.
    trap 'FORCE=1' INT TERM HUP
    if ((${#SVC_PID[@]})); then
        say "stopping ${!SVC_PID[*]} (they finish in-flight work; Ctrl-C again to kill)"
        for pid in "${SVC_PID[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
        if ! wait_gone "$STOP_TIMEOUT" "${SVC_PID[@]}"; then
            if ((FORCE)); then say "killing the services"; else say "killing services that did not stop within ${STOP_TIMEOUT}s"; fi
            for pid in "${SVC_PID[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
        fi
        for svc in "${!SVC_PID[@]}"; do
            code=0
            wait "${SVC_PID[$svc]}" 2>/dev/null || code=$?
            if ((code != 0)); then
                say "ombuds-$svc exited with status $code"
                failed=1
            fi
        done
    fi
    if [[ -n "$NATS_PID" ]]; then
        say "stopping nats-server"
        kill -TERM "$NATS_PID" 2>/dev/null || true
        if ! wait_gone 10 "$NATS_PID"; then kill -KILL "$NATS_PID" 2>/dev/null || true; fi
        wait "$NATS_PID" 2>/dev/null || true
    fi
    # The log prefixers end when their process closes its output; let them flush.
    if ((${#LOG_PIDS[@]})); then
        wait_gone 5 "${LOG_PIDS[@]}" || kill -TERM "${LOG_PIDS[@]}" 2>/dev/null || true
    fi
    if ((STOP_REQUESTED && status == 0 && failed == 0)); then
        say "stopped"
        exit 0
    fi
    ((status != 0)) || status=$failed
    exit "$status"
}
trap cleanup EXIT
trap 'STOP_REQUESTED=1; exit 0' INT TERM HUP

# ---- helpers -------------------------------------------------------------------

# Whether something accepts TCP connections on host $1 port $2.
port_open() {
    if command -v nc >/dev/null 2>&1; then
        nc -z -w 1 "$1" "$2" >/dev/null 2>&1
    else
        # shellcheck disable=SC2016 # $0 and $1 are the inner bash's arguments
        timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" >/dev/null 2>&1
    fi
}

# The HTTP status of GET http://127.0.0.1:$1$2 ("000" when nothing answers).
http_status() {
    local port=$1 path=$2
    if command -v curl >/dev/null 2>&1; then
        curl -s -o /dev/null --max-time 2 -w '%{http_code}' "http://127.0.0.1:$port$path" 2>/dev/null || true
    else
        # shellcheck disable=SC2016 # $0 and $1 are the inner bash's arguments
        timeout 3 bash -c '
            exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
            printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" "$1" >&3
            IFS=" " read -r _ code _ <&3 && printf "%s" "$code"' "$port" "$path" 2>/dev/null || true
    fi
}

# Starts "$@" in its own session (so a Ctrl-C reaches only this script, which stops
# things in order), its output prefixed with "[$name] " on the terminal and appended
# to $LOG_DIR/$name.log. Sets STARTED_PID.
start_logged() {
    local name=$1 log_fd
    shift
    # The prefixer ignores SIGINT: it ends when the process closes its output.
    exec {log_fd}> >(trap '' INT; tee -p -a "$LOG_DIR/$name.log" | sed -u "s/^/[$name] /")
    LOG_PIDS+=("$!")
    "${SETSID[@]}" "$@" >&"$log_fd" 2>&1 </dev/null &
    STARTED_PID=$!
    exec {log_fd}>&-
}
SETSID=()
if command -v setsid >/dev/null 2>&1; then SETSID=(setsid); fi

find_nats_server() {
    local p
    if p=$(command -v nats-server 2>/dev/null); then echo "$p"; return 0; fi
    for p in /usr/sbin/nats-server /usr/local/bin/nats-server /usr/local/sbin/nats-server /usr/bin/nats-server; do
        if [[ -x "$p" ]]; then echo "$p"; return 0; fi
    done
    return 1
}

# ---- build ---------------------------------------------------------------------

if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
    # shellcheck source=/dev/null
    . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 || die "cargo is not on PATH; install Rust with rustup (https://rustup.rs)"

BUILD=(cargo build --bins)
[[ "$PROFILE" == release ]] && BUILD+=(--release)
say "${BUILD[*]}"
"${BUILD[@]}" || die "the build failed (see above)"
BIN_DIR="$(cd "${CARGO_TARGET_DIR:-target}/$PROFILE" && pwd)"
for svc in "${SERVICES[@]}"; do
    [[ -x "$BIN_DIR/ombuds-$svc" ]] || die "$BIN_DIR/ombuds-$svc was not built"
done

# ---- NATS ----------------------------------------------------------------------

# The services bind these; something already there would answer for them.
for svc in "${SERVICES[@]}"; do
    for port in "${HTTP_PORT[$svc]}" "${GRPC_PORT[$svc]}"; do
        if port_open 127.0.0.1 "$port"; then
            die "port $port (for $svc) is already in use: is another run still going?"
        fi
    done
done

mkdir -p "$LOG_DIR"

# The first server of NATS_URL, without scheme and credentials: host and port.
nats_hostport=${NATS_URL%%,*}
nats_hostport=${nats_hostport#*://}
nats_hostport=${nats_hostport##*@}
nats_hostport=${nats_hostport%%/*}
NATS_HOST=${nats_hostport%:*}
NATS_PORT=${nats_hostport##*:}
[[ "$nats_hostport" == *:* ]] || NATS_PORT=4222
[[ -n "$NATS_HOST" && "$NATS_PORT" =~ ^[0-9]+$ ]] || die "cannot read host and port from NATS_URL"

# NATS_URL without a password, for printing.
NATS_SHOWN=$NATS_URL
if [[ "$NATS_SHOWN" == *://*@* ]]; then NATS_SHOWN="${NATS_SHOWN%%://*}://***@${NATS_SHOWN#*@}"; fi

if port_open "$NATS_HOST" "$NATS_PORT"; then
    NATS_WHERE="$NATS_SHOWN (already running; left as it is)"
else
    case "$NATS_HOST" in
        127.0.0.1 | localhost | 0.0.0.0) ;;
        *) die "nothing listens at NATS_URL=$NATS_SHOWN and it is not on this machine" ;;
    esac
    if ! NATS_BIN=$(find_nats_server); then
        if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
            say "installing nats-server: apt-get update && apt-get install -y nats-server"
            apt-get update && apt-get install -y nats-server
            NATS_BIN=$(find_nats_server) || die "nats-server is still not installed"
        else
            die "nats-server is not installed: sudo apt-get install nats-server"
        fi
    fi
    mkdir -p "$OMBUDS_DATA_DIR/nats"
    say "starting $NATS_BIN on 127.0.0.1:$NATS_PORT (JetStream store $OMBUDS_DATA_DIR/nats)"
    start_logged nats "$NATS_BIN" -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$OMBUDS_DATA_DIR/nats"
    NATS_PID=$STARTED_PID
    deadline=$((SECONDS + 15))
    until port_open 127.0.0.1 "$NATS_PORT"; do
        kill -0 "$NATS_PID" 2>/dev/null || { NATS_PID=""; die "nats-server exited; see [nats] above"; }
        ((SECONDS < deadline)) || die "nats-server did not listen on port $NATS_PORT within 15s"
        sleep 0.2
    done
    NATS_WHERE="$NATS_SHOWN (started here, pid $NATS_PID; store $OMBUDS_DATA_DIR/nats)"
fi

# ---- services ------------------------------------------------------------------

for svc in "${SERVICES[@]}"; do
    # <SERVICE>_DATABASE_URL, e.g. SLA_WATCHDOG_DATABASE_URL, becomes its DATABASE_URL.
    db_var="$(tr 'a-z-' 'A-Z_' <<<"$svc")_DATABASE_URL"
    env_args=()
    if [[ -n "${!db_var:-}" ]]; then env_args+=("DATABASE_URL=${!db_var}"); fi
    start_logged "$svc" env "${env_args[@]}" "$BIN_DIR/ombuds-$svc"
    SVC_PID[$svc]=$STARTED_PID
done

say "waiting for /readyz of: ${SERVICES[*]}"
deadline=$((SECONDS + READY_TIMEOUT))
pending=("${SERVICES[@]}")
while ((${#pending[@]})); do
    still=()
    for svc in "${pending[@]}"; do
        if ! kill -0 "${SVC_PID[$svc]}" 2>/dev/null; then
            code=0
            wait "${SVC_PID[$svc]}" || code=$?
            unset "SVC_PID[$svc]"
            die "ombuds-$svc exited with status $code before it was ready; see [$svc] above or $LOG_DIR/$svc.log"
        fi
        [[ "$(http_status "${HTTP_PORT[$svc]}" /readyz)" == 200 ]] || still+=("$svc")
    done
    pending=("${still[@]+"${still[@]}"}")
    ((${#pending[@]})) || break
    ((SECONDS < deadline)) || die "not ready after ${READY_TIMEOUT}s: ${pending[*]} (see their log lines above and their /readyz)"
    sleep 0.3
done

# ---- summary -------------------------------------------------------------------

{
    echo
    echo "Ombuds is running ($PROFILE build). Ctrl-C stops everything."
    echo
    printf '  %-13s %-24s %s\n' SERVICE HTTP GRPC
    for svc in "${SERVICES[@]}"; do
        printf '  %-13s %-24s %s\n' "$svc" "http://127.0.0.1:${HTTP_PORT[$svc]}" "http://127.0.0.1:${GRPC_PORT[$svc]}"
    done
    echo
    if [[ -n "${SVC_PID[analytics]:-}" ]]; then
        echo "  dashboard      http://127.0.0.1:${HTTP_PORT[analytics]}/"
    fi
    echo "  NATS           $NATS_WHERE"
    echo "  data           $OMBUDS_DATA_DIR/ (one SQLite file per service unless <SERVICE>_DATABASE_URL is set)"
    echo "  notifications  ${OMBUDS_NOTIFY_FILE:-$OMBUDS_DATA_DIR/notifications.jsonl}"
    echo "  logs           $LOG_DIR/<service>.log"
    echo
    echo "Try:"
    echo "  curl -X POST http://127.0.0.1:8081/v1/contacts/web_form -H 'content-type: application/json' \\"
    echo "       -d '{\"external_id\":\"demo-1\",\"customer\":{\"name\":\"Demo\",\"email\":\"demo@example.com\"},\"body\":\"My bill is wrong\"}'"
    echo "  $BIN_DIR/ombudsctl get <ticket>"
    echo
}

# ---- run until stopped ---------------------------------------------------------

# `wait -n` returns when a service exits, or at once when a signal arrives (the trap
# then runs and the EXIT trap stops everything).
while :; do
    code=0
    wait -n "${SVC_PID[@]}" || code=$?
    for svc in "${!SVC_PID[@]}"; do
        if ! kill -0 "${SVC_PID[$svc]}" 2>/dev/null; then
            unset "SVC_PID[$svc]"
            die "ombuds-$svc exited unexpectedly (status $code); stopping the rest"
        fi
    done
done

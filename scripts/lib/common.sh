# shellcheck shell=bash
# Shared by the scripts in scripts/: install what a fresh Debian machine lacks, time steps
# against their budgets, run slow independent work in the background. Sourced, not run.

# need_apt PACKAGE CHECK-COMMAND...: installs PACKAGE with apt-get unless CHECK succeeds.
need_apt() {
    pkg=$1; shift
    if "$@" >/dev/null 2>&1; then return 0; fi
    if [ "$(id -u)" != 0 ]; then
        echo "missing: Debian package '$pkg' (run: sudo apt-get install -y $pkg)" >&2
        exit 1
    fi
    if [ -z "${APT_UPDATED:-}" ]; then
        # A foreign-architecture index can fail transiently; the packages we need still install.
        DEBIAN_FRONTEND=noninteractive apt-get update -qq || true
        APT_UPDATED=1
    fi
    echo "installing $pkg"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
}

# --- steps and their budgets ---------------------------------------------------------------------
# Every step's name, seconds, budget and result, for the table `steps_report` prints (also when a
# step fails and the script stops): a step that grows past its budget shows in every run.
STEP_ROWS=()
STEP_T0=$(date +%s)

_step_row() { # NAME SECONDS BUDGET RESULT
    local flag=
    [ "$2" -gt "$3" ] && flag="  OVER BUDGET (+$(( $2 - $3 )) s)"
    STEP_ROWS+=("$(printf '%-58s %5d s  %5d s  %-6s%s' "$1" "$2" "$3" "$4" "$flag")")
}

# step NAME BUDGET_SECONDS COMMAND...: runs COMMAND, printing its name and how long it took.
step() {
    local name=$1 budget=$2 t0 rc=0
    shift 2
    echo "==> $name"
    t0=$(date +%s)
    "$@" || rc=$?
    _step_row "$name" "$(( $(date +%s) - t0 ))" "$budget" "$([ $rc = 0 ] && echo ok || echo FAILED)"
    echo "<== $name: $(( $(date +%s) - t0 )) s"
    return $rc
}

# background NAME BUDGET_SECONDS COMMAND...: starts COMMAND (a program, in a process group of
# its own so that it can be stopped whole) now, its output into a log that `await NAME` prints;
# for work that needs other resources than the steps run meanwhile (downloads while compiling,
# release builds while test suites wait on sockets).
declare -A BG_PID=() BG_T0=() BG_BUDGET=()
BG_DIR=
background() {
    local name=$1 budget=$2
    shift 2
    [ -n "$BG_DIR" ] || BG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/privaclaw-steps.XXXXXX")
    echo "==> $name (in the background)"
    BG_T0[$name]=$(date +%s)
    BG_BUDGET[$name]=$budget
    # shellcheck disable=SC2016 # expanded by the inner shell
    setsid bash -c '"$@"; rc=$?; date +%s > "$0"; exit $rc' "$BG_DIR/$name.end" "$@" \
        > "$BG_DIR/$name.log" 2>&1 < /dev/null &
    BG_PID[$name]=$!
}

# await NAME: waits for a background step, prints its output, fails if it failed.
await() {
    local name=$1 rc=0 secs
    [ -n "${BG_PID[$name]:-}" ] || return 0
    local t0
    t0=$(date +%s)
    wait "${BG_PID[$name]}" || rc=$?
    unset "BG_PID[$name]"
    secs=$(( $(cat "$BG_DIR/$name.end" 2>/dev/null || date +%s) - BG_T0[$name] ))
    sed "s/^/[$name] /" "$BG_DIR/$name.log"
    _step_row "$name (background)" "$secs" "${BG_BUDGET[$name]}" "$([ $rc = 0 ] && echo ok || echo FAILED)"
    _step_row "  waiting for it" "$(( $(date +%s) - t0 ))" "${BG_BUDGET[$name]}" "-"
    echo "<== $name: $secs s in the background, $(( $(date +%s) - t0 )) s waited for"
    return $rc
}

# steps_report: the table of every step so far; stops what still runs in the background.
steps_report() {
    local name
    for name in "${!BG_PID[@]}"; do
        kill -- "-${BG_PID[$name]}" 2>/dev/null || true
        echo "stopped $name (background); its output so far:"
        tail -n 40 "$BG_DIR/$name.log" | sed "s/^/[$name] /"
    done
    [ -z "$BG_DIR" ] || rm -rf "$BG_DIR"
    [ ${#STEP_ROWS[@]} -gt 0 ] || return 0
    echo
    printf '%-58s %7s  %7s  %s\n' step time budget result
    printf '%s\n' "${STEP_ROWS[@]}"
    echo "total: $(( $(date +%s) - STEP_T0 )) s"
}

# write_sums DIR: DIR/SHA256SUMS over every file in DIR (not itself, not *.tmp), sorted.
write_sums() {
    (cd "$1" && find . -maxdepth 1 -type f ! -name SHA256SUMS ! -name '*.tmp' -printf '%f\n' |
        LC_ALL=C sort | xargs -r -d '\n' sha256sum -- > SHA256SUMS.tmp && mv -f SHA256SUMS.tmp SHA256SUMS)
}

# use_build_cache: points this checkout's cargo target directories (target/, agent/target/,
# fuzz/target/) at a cache outside it, so that a fresh clone on a machine that ran the tests
# before reuses the compiled dependencies. The cache is keyed by the toolchains and the
# lockfiles, and only the two newest keys are kept (or none past $PRIVACLAW_CACHE_MAX_GB).
# Stale results cannot pass a test: the clone's own crates are always compiled again (their
# path and file times are new to cargo), dependencies are fixed by the lockfiles and the key,
# cargo's fingerprints cover flags and features, and dist/ is written afresh every run.
# A directory that is already there (a developer's own target/) is left alone.
# PRIVACLAW_CACHE=off: no cache; PRIVACLAW_CACHE=DIR: the cache's root (~/.cache/privaclaw).
use_build_cache() {
    local root=${PRIVACLAW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/privaclaw} key dir t
    [ "$root" = off ] && return 0
    key=$({ rustc -vV; rustc +nightly -vV 2>/dev/null || true; cat Cargo.lock agent/Cargo.lock fuzz/Cargo.lock; } |
        sha256sum | cut -c1-16)
    dir=$root/$key
    if [ -d "$dir" ] && [ "$(du -s --block-size=1G "$dir" | cut -f1)" -gt "${PRIVACLAW_CACHE_MAX_GB:-30}" ]; then
        echo "build cache $dir is over ${PRIVACLAW_CACHE_MAX_GB:-30} GB: starting it again"
        rm -rf "$dir"
    fi
    mkdir -p "$dir"
    touch "$dir"
    for t in target agent/target fuzz/target; do
        if [ -L "$t" ] || ! [ -e "$t" ]; then
            mkdir -p "$dir/${t//\//-}"
            ln -sfn "$dir/${t//\//-}" "$t"
        fi
    done
    # shellcheck disable=SC2012 # names are our hex keys
    ls -1dt "$root"/*/ | tail -n +3 | xargs -r rm -rf
    echo "build cache: $dir"
}

#!/bin/sh
# Installs the PrivaClaw connector (relay-connector) from a PrivaClaw relay, pairs it, and
# starts it as a service (systemd, OpenRC or OpenWrt's procd):
#
#   curl -fsSL https://relay.example.com/install.sh | sh -s -- --pair CODE
#   wget -qO- https://relay.example.com/install.sh | sh -s -- --pair CODE      (busybox, OpenWrt)
#
# Options:
#   --pair CODE     pair with this one-time code from the web app (needed the first time)
#   --name NAME     rename the device when pairing (default: keep the name given in the web app)
#   --no-start      install (and pair) but do not enable or start the service
#   --uninstall     stop and remove the service and the binary; asks before deleting the
#                   credentials (--purge deletes them, --keep-config keeps them, no questions)
#   -h, --help      this text
#
# Re-running it upgrades the connector in place and restarts the service; the credentials in
# /etc/relay-connector.json (root's, mode 0600) are kept unless --pair is given again.
# Environment, for packagers and tests: RELAY_URL (the relay), DESTDIR (install under this
# root), BINDIR (default /usr/local/bin, or /usr/bin where /usr/local is absent or read-only),
# INIT (systemd, openrc, procd or none: skip detection), ARCH (instead of `uname -m`).
#
# POSIX sh: runs under dash, bash and busybox ash.
set -eu

RELAY_URL=${RELAY_URL:-__RELAY_URL__}
RELAY_URL=${RELAY_URL%/}
ROOT=${DESTDIR:-}
ROOT=${ROOT%/}
CONFIG=/etc/relay-connector.json
SERVICE=relay-connector

say() { printf 'relay-connector: %s\n' "$*"; }
die() { printf 'relay-connector: error: %s\n' "$*" >&2; exit 1; }

usage() {
    cat <<EOF
Installs the PrivaClaw connector from $RELAY_URL, pairs it and starts it as a service.
Usage: curl -fsSL $RELAY_URL/install.sh | sh -s -- [options]
  --pair CODE     pair with this one-time code from the web app (needed the first time)
  --name NAME     rename the device when pairing (default: keep the name it has in the web app)
  --no-start      install (and pair) but do not enable or start the service
  --uninstall     remove the service and the binary; asks before deleting the credentials
  --purge         with --uninstall: delete $CONFIG without asking
  --keep-config   with --uninstall: keep $CONFIG without asking
Re-running upgrades in place. Environment: RELAY_URL, DESTDIR, BINDIR, INIT, ARCH.
EOF
}

PAIR=
NAME=
ACTION=install
START=1
PURGE=ask
while [ $# -gt 0 ]; do
    case $1 in
        --pair) [ $# -ge 2 ] || die "--pair needs a CODE"; PAIR=$2; shift ;;
        --pair=*) PAIR=${1#--pair=} ;;
        --name) [ $# -ge 2 ] || die "--name needs a NAME"; NAME=$2; shift ;;
        --name=*) NAME=${1#--name=} ;;
        --no-start) START=0 ;;
        --uninstall) ACTION=uninstall ;;
        --purge) PURGE=yes ;;
        --keep-config) PURGE=no ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
    shift
done

case $RELAY_URL in
    http://*|https://*) ;;
    *) die "no relay URL: download this script from your relay (https://RELAY/install.sh) or set RELAY_URL" ;;
esac

if [ "$(id -u)" != 0 ] && [ -z "$ROOT" ]; then
    die "must run as root, to install into /usr and start a service: curl -fsSL $RELAY_URL/install.sh | sudo sh -s -- ..."
fi

# --- where things go ---------------------------------------------------------------------
# /usr/local/bin, unless /usr/local is missing or read-only (OpenWrt, some NAS systems).
writable_dir() {
    mkdir -p "$1" 2>/dev/null || return 1
    probe="$1/.relay-connector.$$"
    if (: > "$probe") 2>/dev/null; then rm -f "$probe"; return 0; fi
    return 1
}
if [ -z "${BINDIR:-}" ]; then
    if [ -d "$ROOT/usr/local" ] && writable_dir "$ROOT/usr/local/bin"; then
        BINDIR=/usr/local/bin
    else
        BINDIR=/usr/bin
    fi
fi
BIN=$BINDIR/relay-connector

# systemd, OpenWrt's procd, OpenRC, or none (looked up under DESTDIR too, for tests).
detect_init() {
    if [ -d "$ROOT/run/systemd/system" ]; then echo systemd
    elif [ -f "$ROOT/etc/rc.common" ] && { [ -f "$ROOT/etc/openwrt_release" ] || [ -x "$ROOT/sbin/procd" ]; }; then echo procd
    elif [ -x "$ROOT/sbin/openrc-run" ] || [ -d "$ROOT/run/openrc" ]; then echo openrc
    else echo none
    fi
}
INIT=${INIT:-$(detect_init)}
case $INIT in systemd|openrc|procd|none) ;; *) die "INIT must be systemd, openrc, procd or none (got '$INIT')" ;; esac

UNIT=$ROOT/etc/systemd/system/$SERVICE.service
INITD=$ROOT/etc/init.d/$SERVICE

service_stop() {
    case $INIT in
        systemd)
            systemctl stop "$SERVICE" 2>/dev/null || true
            systemctl disable "$SERVICE" 2>/dev/null || true ;;
        openrc)
            rc-service "$SERVICE" stop 2>/dev/null || true
            rc-update del "$SERVICE" default 2>/dev/null || true ;;
        procd)
            if [ -f "$INITD" ]; then
                /bin/sh "$ROOT/etc/rc.common" "$INITD" stop 2>/dev/null || true
                /bin/sh "$ROOT/etc/rc.common" "$INITD" disable 2>/dev/null || true
            fi ;;
    esac
}

# --- uninstall -----------------------------------------------------------------------------
if [ "$ACTION" = uninstall ]; then
    service_stop
    removed=
    for f in "$UNIT" "$INITD" "$ROOT/usr/local/bin/relay-connector" "$ROOT/usr/bin/relay-connector"; do
        if [ -e "$f" ]; then rm -f "$f"; removed="$removed ${f#"$ROOT"}"; fi
    done
    [ "$INIT" = systemd ] && { systemctl daemon-reload 2>/dev/null || true; }
    if [ -n "$removed" ]; then say "removed:$removed"; else say "nothing was installed"; fi
    if [ -f "$ROOT$CONFIG" ]; then
        if [ "$PURGE" = ask ]; then
            PURGE=no
            if { exec 3</dev/tty; } 2>/dev/null; then
                printf 'relay-connector: delete %s (this device'\''s credentials)? [y/N] ' "$CONFIG"
                read -r answer <&3 || answer=
                case $answer in [yY]*) PURGE=yes ;; esac
            fi
        fi
        if [ "$PURGE" = yes ]; then
            rm -f "$ROOT$CONFIG"
            say "deleted $CONFIG; delete the device in the web app too"
        else
            say "kept $CONFIG (the device's credentials); remove it with: rm $CONFIG"
        fi
    fi
    exit 0
fi

# --- architecture ------------------------------------------------------------------------------
# `uname -m` values with a build (targets/matrix, aliases); the relay maps them to its files.
ARCH=${ARCH:-$(uname -m)}
# uname says `mips` for both byte orders. Byte 6 of an ELF header (EI_DATA: 1 = little-,
# 2 = big-endian) of the system's own busybox or shell tells them apart (dd: busybox has it).
if [ "$ARCH" = mips ]; then
    order=
    for f in "$ROOT/bin/busybox" "$ROOT/bin/sh" /bin/busybox /bin/sh; do
        [ -r "$f" ] || continue
        case $(dd if="$f" bs=1 count=6 2>/dev/null) in
            "$(printf '\177ELF')"?"$(printf '\001')") order=little ;;
            "$(printf '\177ELF')"?"$(printf '\002')") order=big ;;
            *) continue ;;
        esac
        break
    done
    case $order in
        little) ARCH=mipsel ;;
        big) ;;
        *) die "cannot tell whether this MIPS machine is little- or big-endian (no ELF header readable in /bin/busybox or /bin/sh): run again with ARCH=mipsel (MT7621, most OpenWrt routers) or ARCH=mips (ath79, big-endian)" ;;
    esac
fi
case $ARCH in
    x86_64|amd64|aarch64|arm64|armv7l|armv7|armv8l|arm|armv6l|armv6|armv5tel|armv5tejl|armv5l|armv5|mipsel|mipsle|mips|riscv64) ;;
    *) die "unsupported architecture: $ARCH (builds exist for x86_64, aarch64, armv7, armv6, armv5, mipsel, mips and riscv64 Linux)" ;;
esac
[ "$(uname -s)" = Linux ] || die "unsupported system: $(uname -s) (this installer is for Linux; Windows: see $RELAY_URL/functions/v1/download-connector)"

# --- download and verify ------------------------------------------------------------------------
# fetch URL FILE: curl, wget (GNU or busybox) or OpenWrt's uclient-fetch.
if command -v curl >/dev/null 2>&1; then
    fetch() { curl -fsSL --retry 2 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
    fetch() { wget -q -O "$2" "$1"; }
elif command -v uclient-fetch >/dev/null 2>&1; then
    fetch() { uclient-fetch -q -O "$2" "$1"; }
else
    die "need curl, wget or uclient-fetch to download the connector"
fi

# sha256 FILE: prints the hex digest.
if command -v sha256sum >/dev/null 2>&1; then
    sha256() { sha256sum "$1" | cut -d' ' -f1; }
elif command -v busybox >/dev/null 2>&1 && busybox sha256sum /dev/null >/dev/null 2>&1; then
    sha256() { busybox sha256sum "$1" | cut -d' ' -f1; }
elif command -v openssl >/dev/null 2>&1; then
    sha256() { openssl dgst -sha256 -r "$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null 2>&1; then
    sha256() { shasum -a 256 "$1" | cut -d' ' -f1; }
else
    die "need sha256sum (coreutils or busybox), openssl or shasum to verify the download"
fi

TMP=$(mktemp -d 2>/dev/null || mktemp -d -t relay-connector.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

URL="$RELAY_URL/functions/v1/download-connector?os=linux&arch=$ARCH"
say "downloading the connector for linux/$ARCH from $RELAY_URL"
fetch "$URL&checksum=1" "$TMP/sum" 2>"$TMP/err" ||
    die "download failed: $URL&checksum=1 ($(tr '\n' ' ' < "$TMP/err")). Is $RELAY_URL reachable, and does it have a build for $ARCH? See $RELAY_URL/functions/v1/download-connector"
read -r EXPECTED FILE < "$TMP/sum" || true
case $EXPECTED in
    *[!0-9a-f]*|'') die "the relay sent no valid checksum for linux/$ARCH (got: $(cut -c1-100 "$TMP/sum" | head -n 2))" ;;
esac
[ ${#EXPECTED} = 64 ] || die "the relay sent no valid checksum for linux/$ARCH"
fetch "$URL" "$TMP/relay-connector" 2>"$TMP/err" ||
    die "download failed: $URL ($(tr '\n' ' ' < "$TMP/err"))"
ACTUAL=$(sha256 "$TMP/relay-connector")
if [ "$ACTUAL" != "$EXPECTED" ]; then
    die "checksum mismatch for ${FILE:-the download}: expected $EXPECTED, got $ACTUAL. Not installing. Try again; if it persists, the file on the relay or the connection is being tampered with."
fi
chmod 755 "$TMP/relay-connector"
VERSION=$("$TMP/relay-connector" --version 2>/dev/null) ||
    die "the downloaded ${FILE:-connector} does not run on this machine (uname -m: $(uname -m))"
say "verified ${FILE:-relay-connector} (sha256 $ACTUAL, $VERSION)"

# --- install -------------------------------------------------------------------------------------
OLD=
[ -x "$ROOT$BIN" ] && OLD=$("$ROOT$BIN" --version 2>/dev/null || echo "an unknown version")
mkdir -p "$ROOT$BINDIR"
# Copy next to the target, then rename: a running connector keeps its old file.
cp "$TMP/relay-connector" "$ROOT$BIN.new"
chmod 755 "$ROOT$BIN.new"
mv -f "$ROOT$BIN.new" "$ROOT$BIN"
if [ -n "$OLD" ]; then say "upgraded $BIN ($OLD -> $VERSION)"; else say "installed $BIN ($VERSION)"; fi

# --- pair ------------------------------------------------------------------------------------------
if [ -n "$PAIR" ]; then
    mkdir -p "$ROOT${CONFIG%/*}"
    if [ -n "$NAME" ]; then
        say "pairing as \"$NAME\""
        set -- --name "$NAME"
    else
        say "pairing (the device keeps the name it has in the web app)"
        set --
    fi
    "$ROOT$BIN" --pair "$PAIR" --api "$RELAY_URL/functions/v1" "$@" --config "$ROOT$CONFIG" >"$TMP/pair" 2>&1 ||
        die "pairing failed: $(cat "$TMP/pair"). Get a new code in the web app (Devices, Add device) and run this again with --pair CODE."
    say "paired; credentials in $CONFIG (root only, mode 0600)"
elif [ -f "$ROOT$CONFIG" ]; then
    say "keeping the existing pairing in $CONFIG"
else
    say "not paired yet: run this again with --pair CODE (from the web app: Devices, Add device)"
    [ "$INIT" = none ] || say "the service is installed but will not start until then"
    START=0
fi

# --- service -----------------------------------------------------------------------------------------
# Written from the files in the project's targets/ directory (kept identical by the tests).
write_systemd_unit() {
    cat <<EOF
# systemd unit for the PrivaClaw connector. install.sh writes it to
# /etc/systemd/system/relay-connector.service (with its ExecStart path) and runs
#   systemctl daemon-reload && systemctl enable relay-connector && systemctl restart relay-connector
# Browser sessions get root shells: the connector runs as root, like sshd's sessions for root.
[Unit]
Description=PrivaClaw relay connector (browser terminals through the relay)
Documentation=https://github.com/privaclaw/privaclaw/blob/main/docs/install.md
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
# User= makes systemd set HOME, SHELL, USER and LOGNAME from the password database, which the
# shells inherit. The credentials file is root's, mode 0600.
User=root
WorkingDirectory=~
ExecStart=$BIN --config $CONFIG
# The connector reconnects by itself; it exits only for a reason. Exit 3 = the relay refused
# the credentials (pair again), 4 = another copy with the same credentials replaced this one:
# restarting cannot help with either.
Restart=on-failure
RestartSec=5
RestartPreventExitStatus=3 4
# SIGTERM goes to the connector alone: it hangs up its shells and reports the sessions ended.
# Whatever is left after the timeout is killed.
KillMode=mixed
TimeoutStopSec=15
# Hardening that leaves the shells usable. The shells are root shells meant for administering
# the machine, so the file system stays writable and visible (no ProtectSystem/ProtectHome/
# PrivateTmp). NoNewPrivileges only stops set-uid programs from gaining privileges, which a
# root shell does not need; if you run the service as another User=, set NoNewPrivileges=no so
# that sudo keeps working in its shells.
NoNewPrivileges=yes
LimitCORE=0

[Install]
WantedBy=multi-user.target
EOF
}

write_openrc_script() {
    cat <<EOF
#!/sbin/openrc-run
# shellcheck shell=sh disable=SC2034  # openrc-run reads these variables
# OpenRC service for the PrivaClaw connector (Alpine and other OpenRC systems). install.sh
# writes it to /etc/init.d/relay-connector and runs
#   rc-update add relay-connector default && rc-service relay-connector restart
# supervise-daemon restarts the connector when it exits. It cannot skip particular exit
# statuses, so a connector that must be paired again (exit 3) or was replaced (exit 4) is
# given up after respawn_max starts within respawn_period.

name="relay-connector"
description="PrivaClaw relay connector (browser terminals through the relay)"
supervisor="supervise-daemon"
command="$BIN"
command_args="--config $CONFIG"
command_user="root"
directory="/root"
respawn_delay=5
respawn_max=5
respawn_period=120
output_log="/var/log/relay-connector.log"
error_log="/var/log/relay-connector.log"
# The shells inherit this environment.
export HOME=/root

depend() {
	need net
	after firewall
}
EOF
}

write_procd_script() {
    cat <<EOF
#!/bin/sh /etc/rc.common
# procd service for the PrivaClaw connector (OpenWrt). install.sh writes it to
# /etc/init.d/relay-connector and runs
#   /etc/init.d/relay-connector enable && /etc/init.d/relay-connector restart
# procd respawns the connector; one that keeps exiting within respawn_threshold seconds of its
# start (e.g. exit 3, "pair again") is given up after respawn_retry tries.

# shellcheck disable=SC2034  # read by /etc/rc.common
START=99
# shellcheck disable=SC2034
STOP=10
# shellcheck disable=SC2034
USE_PROCD=1
PROG=$BIN

start_service() {
	procd_open_instance
	procd_set_param command "\$PROG" --config $CONFIG
	# threshold (s), delay before a restart (s), tries
	procd_set_param respawn 300 5 5
	procd_set_param env HOME=/root
	procd_set_param stdout 1
	procd_set_param stderr 1
	procd_close_instance
}
EOF
}

case $INIT in
    systemd)
        mkdir -p "${UNIT%/*}"
        write_systemd_unit > "$UNIT"
        chmod 644 "$UNIT"
        systemctl daemon-reload
        if [ $START = 1 ]; then
            systemctl enable --quiet "$SERVICE"
            systemctl restart "$SERVICE"
            say "systemd: wrote ${UNIT#"$ROOT"}, enabled and (re)started $SERVICE (logs: journalctl -u $SERVICE)"
        else
            say "systemd: wrote ${UNIT#"$ROOT"}; start it with: systemctl enable --now $SERVICE"
        fi ;;
    openrc)
        mkdir -p "${INITD%/*}"
        write_openrc_script > "$INITD"
        chmod 755 "$INITD"
        if [ $START = 1 ]; then
            rc-update add "$SERVICE" default >/dev/null 2>&1 || true
            rc-service "$SERVICE" restart
            say "OpenRC: wrote ${INITD#"$ROOT"}, added to the default runlevel and (re)started (log: /var/log/relay-connector.log)"
        else
            say "OpenRC: wrote ${INITD#"$ROOT"}; start it with: rc-update add $SERVICE default && rc-service $SERVICE start"
        fi ;;
    procd)
        mkdir -p "${INITD%/*}"
        write_procd_script > "$INITD"
        chmod 755 "$INITD"
        if [ $START = 1 ]; then
            /bin/sh "$ROOT/etc/rc.common" "$INITD" enable
            /bin/sh "$ROOT/etc/rc.common" "$INITD" restart
            say "procd: wrote ${INITD#"$ROOT"}, enabled and (re)started it (logs: logread -e relay-connector)"
        else
            say "procd: wrote ${INITD#"$ROOT"}; start it with: $INITD enable && $INITD start"
        fi ;;
    none)
        say "no systemd, OpenRC or procd found: start the connector yourself, e.g. from rc.local:"
        say "  $BIN --config $CONFIG >/var/log/relay-connector.log 2>&1 &" ;;
esac
say "done"

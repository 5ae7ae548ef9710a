#!/bin/sh
# Installs the PrivaClaw relay (privaclaw-relay) from a release and starts it as a service:
#
#   curl -fsSL https://github.com/privaclaw/privaclaw/releases/latest/download/install-relay.sh | sh
#   curl -fsSL …/install-relay.sh | ACME_DOMAIN=relay.example.com ACME_EMAIL=you@example.com sh
#
# It downloads privaclaw-relay-linux-<arch>, privaclaw-connectors.tar.gz and SHA256SUMS from
# RELEASE_URL, checks both files against SHA256SUMS (nothing is installed on a mismatch), and
# installs:
#   /usr/local/bin/privaclaw-relay         the relay (static; x86_64 or aarch64 Linux)
#   user and group privaclaw               a system user, no login
#   /var/lib/privaclaw                     its data directory (0700): database, secrets
#   /var/lib/privaclaw/dist                the connector builds it serves (the default --dist-dir)
#   /etc/default/privaclaw-relay           its settings, written only if absent
#   a systemd unit (or an OpenRC service)  enabled and (re)started; then it waits for an answer
#
# Re-running upgrades the binary and the connectors in place and restarts the service; the
# settings and the data are kept. On the first run, PORT, PUBLIC_URL, ACME_DOMAIN and
# ACME_EMAIL from the environment go into the new settings file.
#
# Options:
#   --no-start      install, but do not enable or start the service
#   -h, --help      this text
# Environment, for packagers and tests: RELEASE_URL (a base URL or a local directory holding
# the release files), DESTDIR (install under this root: service managers are still called),
# BINDIR (default /usr/local/bin), INIT (systemd, openrc or none: skip detection), ARCH
# (instead of `uname -m`), WAIT (seconds to wait for the relay to answer, default 30).
#
# POSIX sh: runs under dash, bash and busybox ash.
set -eu

RELEASE_URL=${RELEASE_URL:-https://github.com/privaclaw/privaclaw/releases/latest/download}
RELEASE_URL=${RELEASE_URL%/}
ROOT=${DESTDIR:-}
ROOT=${ROOT%/}
BINDIR=${BINDIR:-/usr/local/bin}
BIN=$BINDIR/privaclaw-relay
DATA=/var/lib/privaclaw
SETTINGS=/etc/default/privaclaw-relay
SERVICE=privaclaw-relay
USER_NAME=privaclaw
WAIT=${WAIT:-30}

say() { printf 'privaclaw-relay: %s\n' "$*"; }
die() { printf 'privaclaw-relay: error: %s\n' "$*" >&2; exit 1; }

usage() {
    cat <<EOF
Installs the PrivaClaw relay from $RELEASE_URL and starts it as a service.
Usage: curl -fsSL .../install-relay.sh | sh -s -- [--no-start]
  --no-start      install, but do not enable or start the service
First run: PORT, PUBLIC_URL, ACME_DOMAIN, ACME_EMAIL in the environment go into $SETTINGS.
Re-running upgrades in place. Environment: RELEASE_URL, DESTDIR, BINDIR, INIT, ARCH, WAIT.
EOF
}

START=1
while [ $# -gt 0 ]; do
    case $1 in
        --no-start) START=0 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
    shift
done

if [ "$(id -u)" != 0 ]; then
    die "must run as root, to install into /usr/local, add a user and start a service: curl -fsSL .../install-relay.sh | sudo sh"
fi

# --- architecture ------------------------------------------------------------------------------
ARCH=${ARCH:-$(uname -m)}
case $ARCH in
    x86_64|amd64) ARCH=x86_64 ;;
    aarch64|arm64) ARCH=aarch64 ;;
    *) die "unsupported architecture: $ARCH (the relay is built for x86_64 (amd64) and aarch64 (arm64) Linux; elsewhere build it from source: cargo install --path relay)" ;;
esac
[ "$(uname -s)" = Linux ] || die "unsupported system: $(uname -s) (the relay's builds are for Linux)"
FILE=privaclaw-relay-linux-$ARCH

# systemd, OpenRC, or none (looked up under DESTDIR too, for tests).
detect_init() {
    if [ -d "$ROOT/run/systemd/system" ]; then echo systemd
    elif [ -x "$ROOT/sbin/openrc-run" ] || [ -d "$ROOT/run/openrc" ]; then echo openrc
    else echo none
    fi
}
INIT=${INIT:-$(detect_init)}
case $INIT in systemd|openrc|none) ;; *) die "INIT must be systemd, openrc or none (got '$INIT')" ;; esac

# --- download and verify ---------------------------------------------------------------------------
# fetch NAME FILE: from RELEASE_URL, a URL (curl or wget) or a local directory.
case $RELEASE_URL in
    http://*|https://*)
        if command -v curl >/dev/null 2>&1; then
            fetch() { curl -fsSL --retry 2 -o "$2" "$RELEASE_URL/$1"; }
        elif command -v wget >/dev/null 2>&1; then
            fetch() { wget -q -O "$2" "$RELEASE_URL/$1"; }
        else
            die "need curl or wget to download the relay"
        fi ;;
    file://*) RELEASE_URL=${RELEASE_URL#file://}; fetch() { cp "$RELEASE_URL/$1" "$2"; } ;;
    /*) fetch() { cp "$RELEASE_URL/$1" "$2"; } ;;
    *) die "RELEASE_URL must be an http(s) URL or an absolute directory (got '$RELEASE_URL')" ;;
esac

if command -v sha256sum >/dev/null 2>&1; then
    sha256() { sha256sum "$1" | cut -d' ' -f1; }
elif command -v openssl >/dev/null 2>&1; then
    sha256() { openssl dgst -sha256 -r "$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null 2>&1; then
    sha256() { shasum -a 256 "$1" | cut -d' ' -f1; }
else
    die "need sha256sum (coreutils or busybox), openssl or shasum to verify the download"
fi

TMP=$(mktemp -d 2>/dev/null || mktemp -d -t privaclaw-relay.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

say "downloading the relay for linux/$ARCH from $RELEASE_URL"
for f in SHA256SUMS "$FILE" privaclaw-connectors.tar.gz; do
    fetch "$f" "$TMP/$f" 2>"$TMP/err" ||
        die "download failed: $RELEASE_URL/$f ($(tr '\n' ' ' < "$TMP/err")). Is RELEASE_URL right, and does the release have it?"
done
# verify NAME: its SHA-256 is the one SHA256SUMS lists for it.
verify() {
    expected=$(awk -v f="$1" '$2 == f || $2 == "*" f { print $1; exit }' "$TMP/SHA256SUMS")
    case $expected in
        *[!0-9a-f]*|'') die "SHA256SUMS from $RELEASE_URL lists no valid checksum for $1. Not installing." ;;
    esac
    actual=$(sha256 "$TMP/$1")
    [ "$actual" = "$expected" ] ||
        die "checksum mismatch for $1: expected $expected, got $actual. Not installing. Try again; if it persists, the release or the connection is being tampered with."
}
verify "$FILE"
verify privaclaw-connectors.tar.gz
chmod 755 "$TMP/$FILE"
VERSION=$("$TMP/$FILE" --version 2>/dev/null) ||
    die "the downloaded $FILE does not run on this machine (uname -m: $(uname -m))"
mkdir "$TMP/dist"
tar -xzf "$TMP/privaclaw-connectors.tar.gz" -C "$TMP/dist" ||
    die "privaclaw-connectors.tar.gz from $RELEASE_URL cannot be unpacked"
say "verified $FILE and privaclaw-connectors.tar.gz (SHA-256, $VERSION)"

# --- user and data directory ----------------------------------------------------------------------
# uid_of NAME / gid_of NAME: from the root's own files (DESTDIR), not the host's.
uid_of() { awk -F: -v u="$1" '$1 == u { print $3; exit }' "$ROOT/etc/passwd" 2>/dev/null; }
gid_of() { awk -F: -v g="$1" '$1 == g { print $3; exit }' "$ROOT/etc/group" 2>/dev/null; }
if [ -z "$(uid_of "$USER_NAME")" ]; then
    nologin=/usr/sbin/nologin
    [ -x "$ROOT$nologin" ] || nologin=/sbin/nologin
    if command -v useradd >/dev/null 2>&1; then
        # --root: useradd writes the root's /etc/passwd, /etc/group, /etc/shadow (DESTDIR)
        if [ -n "$ROOT" ]; then set -- --root "$ROOT"; else set --; fi
        useradd "$@" --system --user-group --home-dir "$DATA" --no-create-home \
            --shell "$nologin" --comment "PrivaClaw relay" "$USER_NAME" ||
            die "could not create the system user $USER_NAME (useradd failed)"
    elif command -v adduser >/dev/null 2>&1 && [ -z "$ROOT" ]; then
        # busybox (Alpine)
        addgroup -S "$USER_NAME" 2>/dev/null || true
        adduser -S -D -H -h "$DATA" -s "$nologin" -G "$USER_NAME" -g "PrivaClaw relay" "$USER_NAME" ||
            die "could not create the system user $USER_NAME (adduser failed)"
    else
        die "need useradd (or busybox adduser) to create the system user $USER_NAME"
    fi
    say "created the system user $USER_NAME"
fi
UID_=$(uid_of "$USER_NAME")
GID_=$(gid_of "$USER_NAME")
{ [ -n "$UID_" ] && [ -n "$GID_" ]; } || die "the user $USER_NAME has no entry in $ROOT/etc/passwd or $ROOT/etc/group"
mkdir -p "$ROOT$DATA"
chown "$UID_:$GID_" "$ROOT$DATA"
chmod 700 "$ROOT$DATA"

# --- install ----------------------------------------------------------------------------------------
OLD=
[ -x "$ROOT$BIN" ] && OLD=$("$ROOT$BIN" --version 2>/dev/null || echo "an unknown version")
mkdir -p "$ROOT$BINDIR"
# Copy next to the target, then rename: a running relay keeps its old file.
cp "$TMP/$FILE" "$ROOT$BIN.new"
chmod 755 "$ROOT$BIN.new"
mv -f "$ROOT$BIN.new" "$ROOT$BIN"
if [ -n "$OLD" ]; then say "upgraded $BIN ($OLD -> $VERSION)"; else say "installed $BIN ($VERSION)"; fi
# The connectors, root's (the relay only reads them): over the old ones, leaving other files.
mkdir -p "$ROOT$DATA/dist"
chmod 755 "$ROOT$DATA/dist"
for f in "$TMP/dist"/*; do
    cp "$f" "$ROOT$DATA/dist/.${f##*/}.new"
    mv -f "$ROOT$DATA/dist/.${f##*/}.new" "$ROOT$DATA/dist/${f##*/}"
done
say "connectors for $(grep -c relay-connector- "$TMP/dist/SHA256SUMS" 2>/dev/null || echo '?') platforms in $DATA/dist"

if [ -f "$ROOT$SETTINGS" ]; then
    say "keeping the settings in $SETTINGS"
else
    mkdir -p "$ROOT${SETTINGS%/*}"
    # may hold passwords (DATABASE_URL, SMTP_URL): root's only
    # line VAR EXAMPLE: VAR=<its value in this environment>, else commented out with EXAMPLE
    line() { eval "v=\${$1:-}"; if [ -n "$v" ]; then printf '%s=%s\n' "$1" "$v"; else printf '#%s=%s\n' "$1" "$2"; fi; }
    (umask 077
     cat > "$ROOT$SETTINGS" <<EOF
# Settings of the PrivaClaw relay ($SERVICE service), read as its environment.
# One VAR=value per line, no spaces around "=", no \`export\`. After a change, restart it
# (systemctl restart $SERVICE, or rc-service $SERVICE restart).
# Every flag of \`privaclaw-relay --help\` has an environment name (shown there as [env: NAME=]);
# the ones most installs need are below. install-relay.sh never overwrites this file.
# It may hold passwords (DATABASE_URL, SMTP_URL): keep it root's and mode 0600.
# The data directory is $DATA (PRIVACLAW_DATA_DIR, set by the service); the connector builds
# it serves are in $DATA/dist.

# Port on 0.0.0.0 (default 8080; 443 with ACME_DOMAIN). The service may bind ports below 1024.
$(line PORT 8080)

# The URL people and connectors reach this relay at; used by pairing, emails, install.sh
# and download links. Default: the address each client's connection reached.
$(line PUBLIC_URL https://relay.example.com)

# Proxies (load balancers) whose X-Forwarded-For/-Host/-Proto are believed, as address blocks.
#TRUST_PROXY=127.0.0.1/32,10.0.0.0/8

# Automatic HTTPS certificates (Let's Encrypt) for this domain (comma-separated for several).
# The CA must reach this relay on port 443 of the domain. PUBLIC_URL then defaults to https://<domain>.
$(line ACME_DOMAIN relay.example.com)
$(line ACME_EMAIL admin@example.com)
#ACME_DIRECTORY=https://acme-staging-v02.api.letsencrypt.org/directory
#ACME_CA_FILE=/etc/privaclaw/acme-ca.pem

# Or a certificate you manage (readable by the user $USER_NAME), instead of ACME_DOMAIN:
#TLS_CERT=/etc/privaclaw/fullchain.pem
#TLS_KEY=/etc/privaclaw/privkey.pem

# Who may create an account: open, invite or closed (the first account always may).
#SIGNUPS=open

# SMTP server for confirmation, reset and invitation emails (needs PUBLIC_URL).
#SMTP_URL=smtps://user:password@mail.example.com
#SMTP_FROM="PrivaClaw <noreply@example.com>"

# PostgreSQL instead of SQLite in the data directory.
#DATABASE_URL=postgres://privaclaw:password@localhost/privaclaw
EOF
    )
    chmod 600 "$ROOT$SETTINGS"
    say "wrote the settings: $SETTINGS"
fi

# --- service -----------------------------------------------------------------------------------------
# The unit is targets/deb/privaclaw-relay/privaclaw-relay.service (the package's) from [Unit]
# on, with this ExecStart (kept identical by the tests).
write_systemd_unit() {
    cat <<EOF
# systemd unit for the PrivaClaw relay, written by install-relay.sh to
# /etc/systemd/system/privaclaw-relay.service. Settings: $SETTINGS.
[Unit]
Description=PrivaClaw relay (browser terminals for machines that dial out)
Documentation=https://github.com/privaclaw/privaclaw/blob/main/docs/packages.md
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User=privaclaw
Group=privaclaw
# The data directory: SQLite database, signing secret, secrets key, ACME certificates.
# systemd creates it (0700, owned by privaclaw) if it is missing.
StateDirectory=privaclaw
StateDirectoryMode=0700
WorkingDirectory=/var/lib/privaclaw
Environment=PRIVACLAW_DATA_DIR=/var/lib/privaclaw
# Read after Environment=: its settings win (PORT, PUBLIC_URL, ACME_DOMAIN, DIST_DIR, ...).
EnvironmentFile=-/etc/default/privaclaw-relay
ExecStart=$BIN
# SIGTERM: the relay stops accepting, closes its connections and exits 0.
KillSignal=SIGTERM
TimeoutStopSec=30
Restart=on-failure
RestartSec=5
# One connection per connector and per browser tab, plus the database.
LimitNOFILE=65536
# Ports below 1024 (443 with ACME_DOMAIN, or PORT=80/443) without running as root.
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
# Hardening: the relay writes only its data directory.
NoNewPrivileges=yes
UMask=0077
ProtectSystem=strict
ReadWritePaths=/var/lib/privaclaw
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native

[Install]
WantedBy=multi-user.target
EOF
}

write_openrc_script() {
    cat <<EOF
#!/sbin/openrc-run
# shellcheck shell=sh disable=SC2034  # openrc-run reads these variables
# OpenRC service for the PrivaClaw relay, written by install-relay.sh to
# /etc/init.d/privaclaw-relay. Settings: $SETTINGS.

name="privaclaw-relay"
description="PrivaClaw relay (browser terminals for machines that dial out)"
supervisor="supervise-daemon"
command="$BIN"
command_user="$USER_NAME:$USER_NAME"
directory="$DATA"
capabilities="^cap_net_bind_service"
umask=077
respawn_delay=5
respawn_max=10
respawn_period=300
output_log="/var/log/privaclaw-relay.log"
error_log="/var/log/privaclaw-relay.log"
# The settings become the relay's environment (supervise-daemon passes it on).
export PRIVACLAW_DATA_DIR="$DATA"
# shellcheck source=/dev/null
if [ -f "$SETTINGS" ]; then set -a; . "$SETTINGS"; set +a; fi

depend() {
	need net
	after firewall
}

start_pre() {
	checkpath -f -m 0640 -o "$USER_NAME:$USER_NAME" /var/log/privaclaw-relay.log
}
EOF
}

UNIT=$ROOT/etc/systemd/system/$SERVICE.service
INITD=$ROOT/etc/init.d/$SERVICE
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
            say "OpenRC: wrote ${INITD#"$ROOT"}, added to the default runlevel and (re)started (log: /var/log/privaclaw-relay.log)"
        else
            say "OpenRC: wrote ${INITD#"$ROOT"}; start it with: rc-update add $SERVICE default && rc-service $SERVICE start"
        fi ;;
    none)
        START=0
        say "no systemd or OpenRC found: start the relay yourself, as $USER_NAME, e.g.:"
        say "  cd $DATA && su -s /bin/sh $USER_NAME -c 'set -a; . $SETTINGS; PRIVACLAW_DATA_DIR=$DATA exec $BIN'" ;;
esac

# --- wait for it, and what next -------------------------------------------------------------------------
# setting NAME: its value in the settings file (the last uncommented line), without quotes.
setting() { sed -n "s/^$1=//p" "$ROOT$SETTINGS" | tail -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'\$/\1/"; }
S_PORT=$(setting PORT)
S_PUBLIC=$(setting PUBLIC_URL)
S_ACME=$(setting ACME_DOMAIN)
S_TLS=$(setting TLS_CERT)
scheme=http
[ -n "$S_ACME$S_TLS" ] && scheme=https
[ -n "$S_PORT" ] || { if [ -n "$S_ACME" ]; then S_PORT=443; else S_PORT=8080; fi; }
HOST=$(hostname -I 2>/dev/null | cut -d' ' -f1) || HOST=
[ -n "$HOST" ] || HOST=$(hostname 2>/dev/null || echo localhost)
URL=${S_PUBLIC:-$scheme://$HOST:$S_PORT}

if [ $START = 1 ]; then
    # Until it answers on loopback (any HTTP status; -k: the certificate names the domain).
    if command -v curl >/dev/null 2>&1; then
        probe() { curl -ks -o /dev/null --max-time 2 "$scheme://127.0.0.1:$S_PORT/"; }
    elif command -v wget >/dev/null 2>&1; then
        probe() { wget -q -O /dev/null -T 2 --no-check-certificate "$scheme://127.0.0.1:$S_PORT/" 2>/dev/null || wget -q -O /dev/null -T 2 "$scheme://127.0.0.1:$S_PORT/"; }
    else
        probe() { false; }
    fi
    i=0
    until probe; do
        i=$((i + 1))
        if [ "$i" -ge "$WAIT" ]; then
            case $INIT in
                systemd) logs="journalctl -u $SERVICE" ;;
                *) logs=/var/log/privaclaw-relay.log ;;
            esac
            die "the relay does not answer on $scheme://127.0.0.1:$S_PORT/ after $WAIT s: see $logs"
        fi
        sleep 1
    done
    say "the relay answers on $scheme://127.0.0.1:$S_PORT/"
fi

if [ -z "$OLD" ]; then
    say "done. Open $URL and create the first account now (until someone does, anyone who reaches it can)."
else
    say "done. The relay is at $URL."
fi
if [ -z "$S_ACME$S_TLS" ]; then
    say "HTTPS: set ACME_DOMAIN=your.domain and ACME_EMAIL=you@example.com"
    say "  in $SETTINGS, point the domain's DNS here, open port 443, and restart: systemctl restart $SERVICE"
fi
say "machines: in the web app, add a device; it shows the install line for the connector."

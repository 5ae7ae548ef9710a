# Shared by the scripts in scripts/: install what a fresh Debian machine lacks, and time steps.
# Sourced, not run.

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

# step NAME COMMAND...: runs COMMAND, printing its name and how long it took.
step() {
    name=$1; shift
    echo "==> $name"
    t0=$(date +%s)
    "$@"
    echo "<== $name: $(( $(date +%s) - t0 )) s"
}

# write_sums DIR: DIR/SHA256SUMS over every file in DIR (not itself, not *.tmp), sorted.
write_sums() {
    (cd "$1" && find . -maxdepth 1 -type f ! -name SHA256SUMS ! -name '*.tmp' -printf '%f\n' |
        LC_ALL=C sort | xargs -r -d '\n' sha256sum -- > SHA256SUMS.tmp && mv -f SHA256SUMS.tmp SHA256SUMS)
}

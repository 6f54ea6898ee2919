# shellcheck shell=bash
# Helpers shared by the scripts in scripts/ (sourced, not run).
#
# Every script here runs on a fresh Debian 12 machine that has only the Rust toolchain, Python,
# Node and gcc, so each one installs what it needs itself: quietly, one line per thing installed,
# and nothing when everything is already there.

# The script's name, for messages.
SCRIPT_NAME=${SCRIPT_NAME:-$(basename "$0")}

say() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() { printf '%s: error: %s\n' "$SCRIPT_NAME" "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, else through sudo (non-interactively when
# there is no terminal to ask for a password on, so CI fails instead of hanging).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif ! command -v sudo >/dev/null; then
        die "need root to run '$*', and sudo is not installed"
    elif [ -t 0 ]; then
        sudo "$@"
    else
        sudo -n "$@"
    fi
}

debian_package_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# apt_install PACKAGE... installs Debian packages quietly. A fresh machine may have no package
# lists yet, so `apt-get update` runs only when the first attempt fails. apt's output is shown
# only on failure.
apt_install() {
    local log
    log=$(mktemp)
    local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends
        -o DPkg::Lock::Timeout=300 "$@")
    if ! as_root "${install[@]}" >"$log" 2>&1; then
        if ! { as_root apt-get update -q -o DPkg::Lock::Timeout=300 && as_root "${install[@]}"; } >"$log" 2>&1; then
            cat "$log" >&2
            rm -f "$log"
            die "could not install Debian package(s): $*"
        fi
    fi
    rm -f "$log"
}

# ensure_debian_packages PACKAGE... installs those of the packages that are missing.
ensure_debian_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        debian_package_installed "$pkg" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]} (Debian)"
    apt_install "${missing[@]}"
}

# shellcheck shell=bash
# Shared by scripts/serve and scripts/test (sourced, not run): the project's virtualenv
# and, for the tests, the Debian packages of the SIP peers.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# The first Python >= 3.11: $PYTHON, then python3.11 .. python3.13, then python3.
find_python() {
  local candidate
  for candidate in ${PYTHON:-} python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

# How to run a command as root: "" when we are root, "sudo -n" when sudo works without a
# password; returns 1 when neither is possible.
root_prefix() {
  if [[ $EUID -eq 0 ]]; then
    ROOT_CMD=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    ROOT_CMD=(sudo -n)
  else
    return 1
  fi
}

APT_UPDATED=0
# apt_install PACKAGE...: noninteractive, no recommends, waiting for the dpkg lock.
apt_install() {
  root_prefix || { say "cannot install $* (not root, no password-less sudo)"; return 1; }
  command -v apt-get >/dev/null 2>&1 || { say "cannot install $*: no apt-get"; return 1; }
  local apt=("${ROOT_CMD[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q
    -o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)
  # tshark asks whether non-root users may capture: answer "no" before it can ask.
  if command -v debconf-set-selections >/dev/null 2>&1; then
    echo "wireshark-common wireshark-common/install-setuid boolean false" |
      "${ROOT_CMD[@]}" debconf-set-selections || true
  fi
  if [[ $APT_UPDATED == 0 ]]; then
    local try
    for try in 1 2 3; do
      "${apt[@]}" update -qq && break
      [[ $try == 3 ]] && { say "apt-get update failed"; return 1; }
      sleep 10
    done
    APT_UPDATED=1
  fi
  "${apt[@]}" install -y -qq --no-install-recommends "$@"
}

# ensure_venv: create $VENV with a Python >= 3.11 when it does not exist yet.
ensure_venv() {
  if [[ -x "$VENV/bin/python" ]]; then
    "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
      die "$VENV does not run Python >= 3.11: remove it (rm -rf .venv) and run again"
    return 0
  fi
  local python
  python="$(find_python)" || die "Python >= 3.11 not found: apt-get install -y python3 python3-venv"
  say "creating $VENV with $python"
  if ! "$python" -m venv "$VENV" 2>/dev/null; then
    # Debian ships venv's pip bootstrap (ensurepip) in a separate package.
    rm -rf "$VENV"
    local minor
    minor="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    apt_install "python$minor-venv" || apt_install python3-venv ||
      die "cannot create a virtualenv: apt-get install -y python3-venv"
    "$python" -m venv "$VENV" || die "cannot create a virtualenv in $VENV"
  fi
}

# ensure_installed [EXTRAS]: `pip install -e .[EXTRAS]` unless pyproject.toml (and the
# Python) are unchanged since the last such install (stamp file in the venv). An install
# with extras also counts as an install of the package alone.
ensure_installed() {
  local extras="${1:-}" spec="." stamp want candidate candidates
  [[ -n $extras ]] && spec=".[$extras]"
  stamp="$VENV/.sipline-installed${extras:+-$extras}"
  want="$(cat "$ROOT/pyproject.toml" "$VENV/pyvenv.cfg" | sha256sum | cut -d' ' -f1)"
  candidates=("$stamp")
  [[ -z $extras ]] && candidates+=("$VENV"/.sipline-installed-*)
  for candidate in "${candidates[@]}"; do
    if [[ -f $candidate && "$(cat "$candidate")" == "$want" && -x "$VENV/bin/sipline" ]]; then
      return 0
    fi
  done
  say "installing sipline$([[ -n $extras ]] && echo "[$extras]") into $VENV (pyproject.toml changed)"
  (cd "$ROOT" && "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$spec") ||
    die "pip install -e '$spec' failed"
  echo "$want" >"$stamp"
}

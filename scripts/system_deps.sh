#!/usr/bin/env bash
# The Debian packages the portal needs (scripts/system-packages.txt), installed where missing.
#   scripts/system_deps.sh runtime            what `make run` needs (PDF libraries, font, ...)
#   scripts/system_deps.sh test               that, and what only the tests use (`make test`)
#   scripts/system_deps.sh runtime --report   install nothing: compare what the portal needs on
#                                             this machine with what `make run` installs, exit 1
#                                             if they differ (scripts/system_needs.py)
# Installing needs Debian's apt and root (or sudo); without them it prints the exact command to
# run and exits 1, so `make run` stops before starting anything.
# SYSTEM_PACKAGES_FILE reads another list (the tests use it).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-test}
list=${SYSTEM_PACKAGES_FILE:-scripts/system-packages.txt}
case "$mode" in
  runtime) for_what="\`make run\`" ;;
  test) for_what="\`make test\`" ;;
  *) echo "usage: $0 runtime|test [--report]" >&2; exit 2 ;;
esac
if [ "${2:-}" = "--report" ]; then
  exec "${PYTHON:-.venv/bin/python}" scripts/system_needs.py "$mode" "$list"
fi

ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)
present() {
  local check=$1
  case "$check" in
    cmd:*) command -v "${check#cmd:}" >/dev/null 2>&1 ;;
    lib:*) "$ldconfig" -p 2>/dev/null | grep -F "${check#lib:} " >/dev/null ;; # not -q: SIGPIPE + pipefail
    file:*) [ -e "${check#file:}" ] ;;
    pymod:*) python3 -c "import ${check#pymod:}" >/dev/null 2>&1 ;;
    *) echo "$list: unknown check $check" >&2; return 1 ;;
  esac
}

need=()
why=() # the reasons, each once, in the list's order
total=0
while read -r package when check reason; do
  case "$package" in '' | '#'*) continue ;; esac
  [ "$mode" = test ] || [ "$when" = runtime ] || continue
  total=$((total + 1))
  present "$check" && continue
  need+=("$package")
  case " ${why[*]-} " in *" $reason,"*) ;; *) why+=("$reason,") ;; esac
done <"$list"
reasons="${why[*]}"
reasons="${reasons%,}"

if [ ${#need[@]} -eq 0 ]; then
  echo "System packages for $for_what: all $total present."
  exit 0
fi
command=(apt-get install -y --no-install-recommends "${need[@]}")
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing system packages for $for_what ($reasons): ${need[*]}."
  echo "This is not a Debian or Ubuntu machine: install them with your package manager, then try again."
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
    sudo=(sudo)
  else
    echo "Missing system packages for $for_what ($reasons): ${need[*]}."
    echo "Installing them needs root. Run this, then try again:"
    echo "  sudo apt-get update && sudo ${command[*]}"
    exit 1
  fi
fi
echo "Installing ${#need[@]} Debian packages for $for_what ($reasons): ${need[*]}."
log=$(mktemp)
if ! { "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" "${command[@]}" -qq; } >"$log" 2>&1; then
  tail -20 "$log"
  echo "Installing the packages failed (above). The command was: ${sudo[*]} ${command[*]}"
  rm -f "$log"
  exit 1
fi
rm -f "$log"

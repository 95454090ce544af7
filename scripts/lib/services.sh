# Sourced by the scripts that start test services (scripts/test, scripts/example, the bench
# scripts): a ledger of what this run started, so that it is stopped again when the script ends.
#
# The `*-up` scripts append one stop command to "$RED_SERVICES_LEDGER" for each service they
# actually start (never for one that already answered: a daemon or peer that was running before
# stays running). `services_stop_on_exit` runs those commands in reverse order when the calling
# script exits, whatever its exit status, unless RED_KEEP_SERVICES=1 asks to keep them running.

# Start a ledger for this script (unless a parent script already keeps one) and stop what it
# lists on exit. The exit status of the script is kept.
services_stop_on_exit() {
  if [ -n "${RED_SERVICES_LEDGER:-}" ]; then
    return 0 # a parent script keeps the ledger and stops the services
  fi
  RED_SERVICES_LEDGER=$(mktemp "${TMPDIR:-/tmp}/red-services.XXXXXX")
  export RED_SERVICES_LEDGER
  trap services_stop EXIT
}

# Run the ledger's stop commands, newest first, and remove the ledger.
services_stop() {
  local status=$?
  if [ -f "${RED_SERVICES_LEDGER:-}" ]; then
    if [ "${RED_KEEP_SERVICES:-}" = 1 ]; then
      echo "services: kept running (RED_KEEP_SERVICES=1); stop them with:" >&2
      tac "$RED_SERVICES_LEDGER" | sed 's/^/  /' >&2
    else
      local command
      while IFS= read -r command; do
        [ -n "$command" ] || continue
        echo "services: $command" >&2
        bash -c "$command" </dev/null >&2 || echo "services: could not run: $command" >&2
      done < <(tac "$RED_SERVICES_LEDGER")
    fi
    rm -f "$RED_SERVICES_LEDGER"
  fi
  return "$status"
}

# Record how to stop a service this run started (called by the `*-up` scripts).
services_started() {
  if [ -n "${RED_SERVICES_LEDGER:-}" ]; then
    printf '%s\n' "$*" >>"$RED_SERVICES_LEDGER"
  fi
}

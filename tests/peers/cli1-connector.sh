#!/bin/sh
# A CLI-1 connector for red's tests (docs/connectors.md, "External connectors"). Tests copy it
# into a scratch directory; it keeps its records beside itself:
#   version      when present, what `cli-version` prints (default `1`)
#   calls.log    one line per call: the subcommand and every argument
#   argv.txt, env.txt, procs.txt, access-copy.json, access-mode.txt, dir-mode.txt
#                what the last call with an ACCESS file saw (its arguments, its environment,
#                every process's command line, the ACCESS file's content and modes)
#   sent/        what send-file and send-dir delivered; listing-copy.json the last LISTING
#   mounted      present between mount-dir and umount-dir
# What a call does comes from `"mode":"…"` in the ACCESS file:
#   ok (default)  do the work          invalid  exit 1, echoing the ACCESS file on stderr
#   fail          exit 3, stderr       signal   kill itself with SIGKILL
#   silent        exit 5, no output    stdout   exit 6, a message on stdout only
#   slow          start a child that sleeps, wait for it (for timeouts and cancellation)
#   say           exit 3, printing the file `say.txt` beside it on stderr
set -u
here=$(cd "$(dirname "$0")" && pwd)
sub=${1:-}
[ $# -gt 0 ] && shift
echo "$sub $*" >>"$here/calls.log"

if [ "$sub" = cli-version ]; then
  if [ -f "$here/version" ]; then cat "$here/version"; else echo 1; fi
  exit 0
fi
if [ "$sub" = umount-dir ]; then
  rm -f "$here/mounted"
  exit 0
fi

access=${1:-}
mode=ok
# The slow mode starts its child before anything else, so that even a short timeout finds it.
if [ -f "$access" ] && grep -q '"mode":"slow"' "$access"; then
  sleep 300 & echo $! >"$here/child.pid"; wait; exit 0
fi
if [ -f "$access" ]; then
  for m in invalid fail signal silent stdout say; do
    if grep -q "\"mode\":\"$m\"" "$access"; then mode=$m; fi
  done
  printf '%s\n' "$sub" "$@" >"$here/argv.txt"
  env >"$here/env.txt"
  for f in /proc/[0-9]*/cmdline; do { tr '\0' ' ' <"$f"; } 2>/dev/null; echo; done >"$here/procs.txt"
  cp "$access" "$here/access-copy.json"
  stat -c %a "$access" >"$here/access-mode.txt"
  stat -c %a "$(dirname "$access")" >"$here/dir-mode.txt"
fi

listing=""
for arg in "$@"; do
  case $arg in --listing=*) listing=${arg#--listing=} ;; esac
done
[ -n "$listing" ] && cp "$listing" "$here/listing-copy.json"

case $mode in
  invalid) echo "access is not valid: $(cat "$access")" >&2; exit 1 ;;
  fail) echo "warning: something noisy" >&2; echo "the transfer broke" >&2; exit 3 ;;
  signal) kill -9 $$ ;;
  silent) exit 5 ;;
  stdout) echo "only on stdout"; exit 6 ;;
  say) cat "$here/say.txt" >&2; exit 3 ;;
esac

case $sub in
  *-validate) exit 0 ;;
  receive-file)
    [ -d "$(dirname "$2")" ] || { echo "parent of LOCALFILE missing" >&2; exit 4; }
    echo "received by the test connector" >"$2" ;;
  receive-dir)
    [ -d "$2" ] || { echo "LOCALDIR missing" >&2; exit 4; }
    [ -z "$(ls -A "$2")" ] || { echo "LOCALDIR not empty" >&2; exit 4; }
    echo one >"$2/one.txt"; mkdir "$2/sub"; echo two >"$2/sub/two.txt" ;;
  send-file) mkdir -p "$here/sent"; cp "$2" "$here/sent/" ;;
  send-dir) mkdir -p "$here/sent"; cp -R "$2" "$here/sent/" ;;
  mount-dir) touch "$here/mounted" ;;
  *) echo "unknown subcommand $sub" >&2; exit 2 ;;
esac
exit 0

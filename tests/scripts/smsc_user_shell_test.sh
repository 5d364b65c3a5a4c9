#!/bin/sh
# scripts/smsc-user-shell with hostile words (issue 15): the ssh command is split on whitespace
# and never globbed. smsc-submit and smsc-dump are stood in for by recorders of what the script
# executes: the script's own parsing is what is tested (the real tools are tested elsewhere).
set -eu
script=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/bin" "$dir/cwd"
for tool in smsc-submit smsc-dump; do
  printf '#!/bin/sh\nprintf "%%s|" "$0" "$@" "SSH_ORIGINAL_COMMAND=${SSH_ORIGINAL_COMMAND:-}"\n' \
    > "$dir/bin/$tool"
  chmod +x "$dir/bin/$tool"
done
# Files a glob would find in the user's working directory.
touch "$dir/cwd/secret_a" "$dir/cwd/secret_b" "$dir/cwd/--text"
cd "$dir/cwd"
fail=0
run() {  # run EXPECTED-SUBSTRING EXPECTED-STATUS SSH_COMMAND
  out=$(SMSC_BINDIR="$dir/bin" SMSC_CONFIG=/nonexistent SSH_ORIGINAL_COMMAND="$3" \
        sh "$script" 2125550100 2>&1) && status=0 || status=$?
  case $out in
    *"$1"*) [ "$status" = "$2" ] || { echo "FAIL: '$3': status $status, expected $2: $out"; fail=1; } ;;
    *) echo "FAIL: '$3': expected '$1' in: $out"; fail=1 ;;
  esac
}
# read: the options reach smsc-dump as typed, the glob unexpanded.
run 'SSH_ORIGINAL_COMMAND=secret_*|' 0 'read secret_*'
# send: '*' would match the file named --text (an allowed option) if globbed: it must be refused.
run "'*' is not allowed" 64 'send 12125550101 *'
run '--restricted|2125550100|--text|--|12125550101|' 0 'send 12125550101 --text'
run 'commands: send' 64 'sh -c id'
[ $fail = 0 ] && echo "smsc-user-shell: all cases passed"
exit $fail

# SPDX-License-Identifier: Apache-2.0
#
# serve_lib.sh: sourced by the shell tests that run `cpn serve` as a child.
#
# start_serve DIR CMD...   run CMD (a `cpn serve` command line, prefixed by
#                          whatever runs it: ip netns exec, env) with
#                          --ready-fd 9 appended, output in DIR/serve.log;
#                          sets serve_pid and returns once it listens, or
#                          prints the log, says FAIL and exits 1. The
#                          caller defines say().

start_serve() {
    local d=$1
    shift
    exec 9>"$d/ready"
    "$@" --ready-fd 9 > "$d/serve.log" 2>&1 &
    serve_pid=$!
    exec 9>&-
    for _ in $(seq 100); do
        [ -s "$d/ready" ] && break
        kill -0 "$serve_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ ! -s "$d/ready" ]; then
        say "FAIL: cpn serve did not start:"
        cat "$d/serve.log" >&2
        exit 1
    fi
}

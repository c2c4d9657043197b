#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Generate docs/faults.md from the fault-injection and bad-input tests.

Runs each test binary listed in TESTS (from a meson build directory) with
Criterion's --verbose, reads the outcome of every test ([PASS]/[FAIL]/
[SKIP]), takes the fault or bad input each test tries from the comment
above its Test(...) in the source (or its name, when it has none), and
writes one table row per test. With --fuzz-log, the counts of a
scripts/fuzz.sh run are added.

usage: scripts/faults_doc.py [--build build] [--fuzz-log FILE] [--out docs/faults.md]
"""
import argparse
import datetime
import os
import re
import subprocess
import sys

# (binary under the build dir, Criterion --filter or None, source, area)
TESTS = [
    ("tests/test_runtime_auth", None, "tests/runtime/test_auth.c",
     "authentication"),
    ("tests/test_tools_cli_keys", None, "tests/tools/test_cli_keys.c",
     "authentication (CLI)"),
    ("tests/test_runtime_limits", None, "tests/runtime/test_limits.c",
     "receiver limits, full disk"),
    ("tests/test_runtime_liveness", None, "tests/runtime/test_liveness.c",
     "deadlines, dead peers, reconnection"),
    ("tests/test_runtime_deliver", "deliver/receiver_refuses*",
     "tests/runtime/test_deliver.c", "bad names"),
    ("tests/test_runtime_deliver", "deliver/bad_names*",
     "tests/runtime/test_deliver.c", "bad names"),
    ("tests/test_runtime_deliver", "deliver/version_mismatch*",
     "tests/runtime/test_deliver.c", "protocol version"),
    ("tests/test_runtime_deliver", "deliver/nothing_listening*",
     "tests/runtime/test_deliver.c", "unreachable peer"),
    ("tests/test_tools_cli", "cli_loopback/*killed",
     "tests/tools/test_cli.c", "killed sender / receiver"),
    ("tests/test_tools_cli", "cli_loopback/receiver_restarted*",
     "tests/tools/test_cli.c", "deadlines, dead peers, reconnection"),
    ("tests/test_runtime_deliver", "deliver/corrupt_chunk*",
     "tests/runtime/test_deliver.c", "corrupt chunk"),
    ("tests/test_runtime_deliver", "deliver/cancel_after_commit*",
     "tests/runtime/test_deliver.c", "cancel"),
    ("tests/test_runtime_deliver", "deliver/wait_timeout_does_not_cancel*",
     "tests/runtime/test_deliver.c", "cancel"),
    ("tests/test_runtime_resume", None, "tests/runtime/test_resume.c",
     "resume after a killed sender / receiver"),
    ("tests/fuzz/test_fuzz_replay", None, "tests/fuzz/test_fuzz_replay.c",
     "fuzz corpus and regressions"),
    ("tests/test_runtime_load", None, "tests/runtime/test_load.c",
     "load"),
    ("tests/test_transport_dpdk",
     "dpdk/@(malformed_dropped|verified_region*|csum_all*|corrupt_header*)",
     "tests/transport/test_dpdk.c", "DPDK frames: forged and corrupt"),
    ("tests/test_transport_dpdk", "dpdk/@(late_peer*|peer_vanishes)",
     "tests/transport/test_dpdk.c", "DPDK: late and vanished peers"),
]

# Shell tests: (script, arguments, area); the fault is the script's header
# comment, the outcome its exit status (0 pass, 77 skip, else fail).
SCRIPTS = [
    ("tests/tools/cut_link.sh", ["48", "ucx"], "cut link, then resume (UCX)"),
    ("tests/tools/cut_link.sh", ["48", "dpdk"],
     "cut link, then resume (DPDK)"),
]


def script_doc(path):
    """The header comment of a shell script, past its first line."""
    out = []
    for line in open(path, encoding="utf-8").read().splitlines()[1:]:
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if text.startswith("SPDX") or text.startswith("Usage:") or \
                text.startswith("Exit "):
            continue
        out.append(text)
    return " ".join(t for t in out if t)


def run_script(build, root, script, args):
    env = dict(os.environ)
    env.setdefault("CPN_LOG_LEVEL", "error")
    env.setdefault("CPN_CLI", os.path.join(build, "tools", "cpn", "cpn"))
    t0 = datetime.datetime.now()
    p = subprocess.run([os.path.join(root, script)] + args,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=env, timeout=900)
    secs = (datetime.datetime.now() - t0).total_seconds()
    outcome = {0: "PASS", 77: "SKIP"}.get(p.returncode, "FAIL")
    last = p.stdout.decode(errors="replace").strip().splitlines()
    return outcome, "%.2fs" % secs, last[-1] if last else ""


def test_docs(src):
    """Map test name -> the comment just above its Test(...)."""
    text = open(src, encoding="utf-8").read()
    docs = {}
    for m in re.finditer(r"(/\*(?:(?!\*/).)*\*/\s*)?Test\((\w+),\s*(\w+)", text,
                         re.S):
        comment = m.group(1) or ""
        comment = re.sub(r"^\s*/\*+|\*+/\s*$", "", comment.strip())
        comment = " ".join(l.strip().lstrip("*").strip()
                           for l in comment.splitlines()).strip()
        docs[m.group(2) + "::" + m.group(3)] = comment
    return docs


def run(build, binary, flt):
    exe = os.path.join(build, binary)
    if not os.path.exists(exe):
        return None, "not built"
    args = [exe, "--verbose", "--jobs=1"]
    if flt:
        args.append("--filter=" + flt)
    env = dict(os.environ)
    env.setdefault("CPN_LOG_LEVEL", "error")
    env.setdefault("CPN_FUZZ_DIR", os.path.join(os.path.dirname(__file__),
                                                "..", "tests", "fuzz"))
    env.setdefault("CPN_CLI", os.path.join(build, "tools", "cpn", "cpn"))
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=env, timeout=900)
    out = p.stdout.decode(errors="replace")
    res = {}
    for m in re.finditer(r"^\[(PASS|FAIL|SKIP)\] (\w+::\w+)(?::\s*(.*))?$",
                         out, re.M):
        res[m.group(2)] = (m.group(1), (m.group(3) or "").strip())
    return res, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--fuzz-log")
    ap.add_argument("--out", default="docs/faults.md")
    a = ap.parse_args()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    rows, counts = [], {"PASS": 0, "FAIL": 0, "SKIP": 0}
    for binary, flt, src, area in TESTS:
        docs = test_docs(os.path.join(root, src))
        res, _ = run(a.build, binary, flt)
        if res is None:
            rows.append((area, binary, "-", "not built", ""))
            continue
        for name, (outcome, extra) in sorted(res.items()):
            if outcome == "SKIP" and "disabled" in extra:
                continue  # left out by the filter, not skipped
            extra = extra.strip("() ")
            what = docs.get(name) or name.split("::")[1].replace("_", " ")
            counts[outcome] += 1
            rows.append((area, "%s `%s`" % (os.path.basename(src), name),
                         what, outcome, extra))
    for script, args, area in SCRIPTS:
        outcome, secs, last = run_script(os.path.abspath(a.build), root,
                                         script, args)
        counts[outcome] += 1
        extra = secs if outcome == "PASS" else "%s: %s" % (secs, last)
        rows.append((area, "`%s`" % os.path.basename(script),
                     script_doc(os.path.join(root, script)), outcome, extra))
    try:
        commit = subprocess.run(["git", "-C", root, "rev-parse", "--short",
                                 "HEAD"], stdout=subprocess.PIPE,
                                check=True).stdout.decode().strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "?"
    lines = [
        "<!-- generated by scripts/faults_doc.py; do not edit by hand -->",
        "# Faults and bad inputs tried",
        "",
        "Every row is one test that injects a fault or feeds a bad input, the",
        "fault or input it tries (from the comment above the test), and its",
        "outcome in the run that generated this page (commit %s, %s UTC)." %
        (commit, datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")),
        "PASS means the outcome the test demands was observed: the fault was",
        "refused or survived as described, nothing partial was left, and the",
        "error said which fault it was.",
        "",
        "Totals: %d passed, %d failed, %d skipped." %
        (counts["PASS"], counts["FAIL"], counts["SKIP"]),
        "",
        "| area | test | fault or bad input | outcome |",
        "|---|---|---|---|",
    ]
    for area, test, what, outcome, extra in rows:
        o = outcome + (" (%s)" % extra if extra else "")
        lines.append("| %s | %s | %s | %s |" % (area, test,
                                                what.replace("|", "\\|"), o))
    if a.fuzz_log:
        fl = open(a.fuzz_log, encoding="utf-8", errors="replace").read()
        lines += ["", "## Fuzzing", "",
                  "From a `scripts/fuzz.sh` run (libFuzzer, ASan+UBSan):", "",
                  "```"]
        lines += [l for l in fl.splitlines() if l.startswith("fuzz")]
        lines += ["```"]
    os.makedirs(os.path.dirname(os.path.join(root, a.out)), exist_ok=True)
    with open(os.path.join(root, a.out), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("faults_doc: %d rows, %d passed, %d failed, %d skipped -> %s" %
          (len(rows), counts["PASS"], counts["FAIL"], counts["SKIP"], a.out))
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# Issue 21's durability report: `headend run` under pipelined DORA load on
# loopback is killed with SIGKILL mid-load, TRIALS times (default 20); every
# lease it had ACKed must be in the store and be honoured by a restarted
# server. Prints a line per trial and the total (0 lost, or the test fails).
#
#   bench/sigkill-durability.sh            20 trials
#   TRIALS=50 bench/sigkill-durability.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
HEADEND_DURABILITY_TRIALS="${TRIALS:-20}" \
    cargo test --locked -p headend --test integration durability:: -- --nocapture 2>&1 |
    grep -E '^durability|test result|panicked|lost lease'

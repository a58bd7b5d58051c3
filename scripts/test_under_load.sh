#!/usr/bin/env bash
# Run the test suite ROUNDS times (default 3) while every core is kept busy by a spinning
# process, as CI may find the machine. A test that depends on timing fails here first.
#
#   scripts/test_under_load.sh [ROUNDS] [pytest arguments...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds="${1:-3}"
shift || true
test -x .venv/bin/python || make --no-print-directory .venv/bin/.installed

spinners=()
stop_spinners() { kill "${spinners[@]}" 2>/dev/null || true; }
trap stop_spinners EXIT
for _ in $(seq "$(nproc)"); do
    python3 -c 'while True: pass' &
    spinners+=($!)
done

passed=0
for round in $(seq "$rounds"); do
    echo "== round $round of $rounds, $(nproc) cores spinning"
    .venv/bin/python -m pytest -q -p no:cacheprovider "$@" && passed=$((passed + 1))
done
echo "$passed of $rounds rounds passed under load"
((passed == rounds))

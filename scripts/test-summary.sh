#!/usr/bin/env bash
# gotestsum's --post-run-command for scripts/test.sh: one closing line, and
# under CI (CI=true) a failure when any test was skipped.
echo "== ${TESTS_TOTAL:-?} tests, ${TESTS_SKIPPED:-?} skipped, ${TESTS_FAILED:-?} failed"
if [ "${CI:-}" = true ] && [ "${TESTS_SKIPPED:-0}" != 0 ]; then
	echo "CI runs every test: ${TESTS_SKIPPED} skipped (the reasons are listed above)" >&2
	exit 1
fi

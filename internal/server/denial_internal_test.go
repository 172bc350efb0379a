package server

import (
	"net/http"
	"testing"

	"voicetoken/internal/policy"
)

// TestDenialTable: every policy denial has a row, a 4xx status, and a
// label that is its code (the API's stable error code) and that the
// metrics pre-resolve.
func TestDenialTable(t *testing.T) {
	m := newMetrics("test")
	for _, c := range policy.Codes() {
		row, ok := denials[c]
		switch {
		case !ok:
			t.Errorf("%s: no row in the denials table", c)
		case row.status < 400 || row.status > 499:
			t.Errorf("%s: status %d, want a 4xx", c, row.status)
		case row.label != string(c):
			t.Errorf("%s: label %q, want the code", c, row.label)
		case m.denials[row.label] == nil:
			t.Errorf("%s: metric child not pre-resolved", c)
		}
		if e := denialError(&policy.Denial{Code: c, Msg: "m"}); e.status != row.status || e.code != row.label {
			t.Errorf("%s: denialError = %d %s", c, e.status, e.code)
		}
	}
	if len(denials) != len(policy.Codes()) {
		t.Errorf("the table has %d rows for %d codes", len(denials), len(policy.Codes()))
	}
	if e := denialError(&policy.Denial{Code: "new", Msg: "m"}); e.status != http.StatusForbidden {
		t.Errorf("unknown code: %d", e.status)
	}
}

package userauth

import (
	"slices"
	"testing"
)

// TestSplitGroups: the groups header's values, comma-separated, become
// the "groups" claim, each trimmed, empty ones dropped.
func TestSplitGroups(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals []string
		want []any
	}{
		{name: "none", vals: nil, want: nil},
		{name: "one", vals: []string{"hosts"}, want: []any{"hosts"}},
		{name: "comma-separated with spaces", vals: []string{" hosts , staff "}, want: []any{"hosts", "staff"}},
		{name: "empty entries", vals: []string{",, ,", "a,"}, want: []any{"a"}},
		{name: "several headers", vals: []string{"a,b", "c"}, want: []any{"a", "b", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := splitGroups(tc.vals); !slices.Equal(got, tc.want) {
				t.Errorf("splitGroups(%q) = %q, want %q", tc.vals, got, tc.want)
			}
		})
	}
}

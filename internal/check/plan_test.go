package check_test

import (
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"voicetoken/internal/check"
	"voicetoken/internal/keys"
)

func TestPlanNeeds(t *testing.T) {
	devKeys := func() (*keys.Set, error) {
		return keys.NewSet(keys.Pair{Key: keys.DevKey, Secret: keys.DevSecret})
	}
	tests := []struct {
		name string
		opts check.PlanOptions
		// want maps each check's name to what it needs ("" for nothing).
		want map[string][]string
		// order is the names in table order.
		order []string
	}{
		{
			name:  "serve and livekit with keys",
			opts:  check.PlanOptions{LoadKeys: devKeys, ServeURL: "http://127.0.0.1:1", LiveKitURL: "http://127.0.0.1:2"},
			order: []string{"keys", "livekit", "livekit api", "serve health", "serve ready", "serve token", "serve page", "serve livekit url"},
			want: map[string][]string{
				"keys": nil, "livekit": nil, "livekit api": {"livekit", "keys"},
				"serve health": nil, "serve ready": {"serve health", "keys"}, "serve token": {"serve health", "keys"},
				"serve page": {"serve health"}, "serve livekit url": {"serve health"},
			},
		},
		{
			name:  "tokens without a key source need nothing",
			opts:  check.PlanOptions{Tokens: []string{"a", "b"}},
			order: []string{"token", "token #2"},
			want:  map[string][]string{"token": nil, "token #2": nil},
		},
		{
			name:  "fix runs before the page is read",
			opts:  check.PlanOptions{LoadKeys: devKeys, Pages: []string{"p.html"}, Fix: true},
			order: []string{"keys", "fix html:p.html", "token html:p.html"},
			want:  map[string][]string{"keys": nil, "fix html:p.html": {"keys"}, "token html:p.html": {"keys"}},
		},
		{
			name:  "a key source is loaded and its files checked",
			opts:  check.PlanOptions{LoadKeys: func() (*keys.Set, error) { return nil, errors.New("no") }, KeysConfigured: true, KeyFile: "k", EnvFile: "e"},
			order: []string{"keys", "key file", "env file"},
			want:  map[string][]string{"keys": nil, "key file": nil, "env file": nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Client = http.DefaultClient
			tt.opts.Now = time.Now
			tt.opts.Getenv = func(string) string { return "" }
			var names []string
			for _, c := range check.NewPlan(tt.opts).Checks() {
				names = append(names, c.Name)
				if !slices.Equal(c.Needs, tt.want[c.Name]) {
					t.Errorf("%s needs %q, want %q", c.Name, c.Needs, tt.want[c.Name])
				}
			}
			if !slices.Equal(names, tt.order) {
				t.Errorf("checks %q, want %q", names, tt.order)
			}
		})
	}
}

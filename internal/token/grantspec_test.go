package token_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	lkauth "github.com/livekit/protocol/auth"

	"voicetoken/internal/token"
)

func TestApplyGrantSpec(t *testing.T) {
	tests := []struct {
		name    string
		specs   []string
		want    string // the claims' grant members, as minted
		wantErr error  // errors.Is target, when any
		errText string // the message must contain it
	}{
		{name: "video, lk's form", specs: []string{`{"canPublish":false,"hidden":true}`}, want: `"video":{"canPublish":false,"hidden":true}`},
		{name: "video by name", specs: []string{`video={"roomList":true}`}, want: `"video":{"roomList":true}`},
		{name: "each object", specs: []string{`sip={"admin":true,"call":true}`, `agent={"admin":true}`, `inference={"perform":true}`, `observability={"write":true}`, `agentEndpoint={"call":true,"agentName":"bot"}`},
			want: `"sip":{"admin":true,"call":true},"agent":{"admin":true},"inference":{"perform":true},"observability":{"write":true},"agentEndpoint":{"call":true,"agentName":"bot"}`},
		{name: "later merges over earlier", specs: []string{`sip={"admin":true}`, `sip={"call":true}`}, want: `"sip":{"admin":true,"call":true}`},
		{name: "spaces around", specs: []string{` sip = {"call":true} `}, want: `"sip":{"call":true}`},
		{name: "typo", specs: []string{`{"canPublsh":false}`}, wantErr: token.ErrUnknownGrantKey, errText: `video grant: unknown grant key "canPublsh"`},
		{name: "case", specs: []string{`{"CanPublish":false}`}, wantErr: token.ErrUnknownGrantKey, errText: `did you mean "canPublish"?`},
		{name: "object name in video", specs: []string{`{"sip":{"admin":true}}`}, wantErr: token.ErrUnknownGrantKey, errText: `for the sip grant write sip='{...}'`},
		{name: "unknown in sip", specs: []string{`sip={"admins":true}`}, wantErr: token.ErrUnknownGrantKey, errText: `sip grant: unknown grant key "admins" (keys: admin, call)`},
		{name: "unknown object", specs: []string{`egress={}`}, errText: `unknown grant "egress"`},
		{name: "no object", specs: []string{`true`}, errText: `want a JSON video grant or NAME=JSON`},
		{name: "array", specs: []string{`sip=[]`}, errText: `sip grant: not a JSON object`},
		{name: "trailing data", specs: []string{`sip={"admin":true} {}`}, errText: `sip grant: not a JSON object`},
		{name: "null", specs: []string{`sip=null`}, errText: `sip grant: not a JSON object`},
		{name: "wrong type", specs: []string{`{"room":1}`}, errText: `room: want a string, got a JSON number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c token.Claims
			var err error
			for _, s := range tt.specs {
				if err = token.ApplyGrantSpec(&c, s); err != nil {
					break
				}
			}
			if tt.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("err %v, want it to contain %q", err, tt.errText)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("err %v is not %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := c.MarshalJSON()
			if got := strings.TrimSuffix(strings.TrimPrefix(string(b), "{"), "}"); got != tt.want {
				t.Errorf("claims %s\nwant   %s", got, tt.want)
			}
		})
	}
}

// Every grant object's keys are LiveKit's, no more and no fewer: a key
// LiveKit adds would otherwise be refused by --grant, a key we invent
// would be dropped by LiveKit.
func TestGrantKeysAreLiveKits(t *testing.T) {
	pairs := []struct {
		name string
		ours any
		lk   any
	}{
		{"video", token.VideoGrant{}, lkauth.VideoGrant{}},
		{"sip", token.SIPGrant{}, lkauth.SIPGrant{}},
		{"agent", token.AgentGrant{}, lkauth.AgentGrant{}},
		{"inference", token.InferenceGrant{}, lkauth.InferenceGrant{}},
		{"observability", token.ObservabilityGrant{}, lkauth.ObservabilityGrant{}},
		{"agentEndpoint", token.AgentEndpointGrant{}, lkauth.AgentEndpointGrant{}},
	}
	var names []string
	for _, p := range pairs {
		names = append(names, p.name)
		if ours, lk := jsonKeys(p.ours), jsonKeys(p.lk); !slices.Equal(ours, lk) {
			t.Errorf("%s grant keys:\nours %q\nLiveKit's %q", p.name, ours, lk)
		}
	}
	if !slices.Equal(names, token.GrantObjects()) {
		t.Errorf("GrantObjects %q, tested %q", token.GrantObjects(), names)
	}
	// And the claim names: each object is a member of LiveKit's ClaimGrants.
	claims := jsonKeys(lkauth.ClaimGrants{})
	for _, n := range token.GrantObjects() {
		if !slices.Contains(claims, n) {
			t.Errorf("%q is not a ClaimGrants member: %q", n, claims)
		}
	}
}

func jsonKeys(v any) []string {
	var out []string
	rt := reflect.TypeOf(v)
	for i := range rt.NumField() {
		n, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if n != "" && n != "-" {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// FuzzApplyGrantSpec: no spec panics; an accepted spec mints claims that
// LiveKit's own ClaimGrants decodes with no unknown field.
func FuzzApplyGrantSpec(f *testing.F) {
	for _, s := range []string{`{"canPublish":false}`, `sip={"admin":true}`, `agent={"admin":true,"dispatchAdmin":true}`,
		`{"canPublishSources":["camera"],"room":"r"}`, `inference={"perform":true}`, `x=`, `{`, `agentEndpoint={"agentName":"\u0000"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		var c token.Claims
		if err := token.ApplyGrantSpec(&c, spec); err != nil {
			return
		}
		b, _ := c.MarshalJSON()
		var lk lkauth.ClaimGrants
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&lk); err != nil {
			t.Fatalf("spec %q minted %s, which LiveKit's ClaimGrants refuses: %v", spec, b, err)
		}
	})
}

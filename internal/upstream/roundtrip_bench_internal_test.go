package upstream

import (
	"net/http"
	"testing"
	"time"

	"voicetoken/internal/credential"
	"voicetoken/internal/testkit"
)

// oneCredential is a CredentialSource that always answers c.
type oneCredential struct{ c *credential.Credential }

func (o oneCredential) Current() *credential.Credential { return o.c }

// answer200 is a base transport that answers every request at once, so a
// benchmark measures the Transport's own work.
type answer200 struct{}

func (answer200) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody}, nil
}

// BenchmarkRoundTrip is the proxy's per-request cost in Transport alone
// (no network): the token set on a copy or in place, in a header or the
// query, with the header timeout's timer or without.
func BenchmarkRoundTrip(b *testing.B) {
	c, err := credential.Policy{}.Check(testkit.TokenExp(b, time.Now(), time.Hour), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name  string
		t     Transport
		owned bool
	}{
		{name: "header", t: Transport{ResponseHeaderTimeout: -1}},
		{name: "header-owned", t: Transport{ResponseHeaderTimeout: -1}, owned: true},
		{name: "header-timed", t: Transport{}},
		{name: "query", t: Transport{ResponseHeaderTimeout: -1, Query: "token"}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			tc.t.Source, tc.t.Base, tc.t.Host = oneCredential{c}, answer200{}, "api.example"
			req, err := http.NewRequest(http.MethodGet, "https://api.example/v1/rooms?limit=10", nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if tc.owned {
					req.URL.RawQuery = "limit=10"
				}
				resp, err := tc.t.roundTrip(req, tc.owned)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
		})
	}
}

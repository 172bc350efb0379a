package server

import (
	"net/http"
	"net/netip"
	"testing"

	"voicetoken/internal/policy"
)

func TestClientAddr(t *testing.T) {
	tests := []struct {
		name    string
		proxies []string
		remote  string
		xff     []string
		want    string
	}{
		{name: "no proxies: remote", remote: "203.0.113.7:5555", want: "203.0.113.7"},
		{name: "no proxies: header ignored", remote: "203.0.113.7:5555", xff: []string{"198.51.100.1"}, want: "203.0.113.7"},
		{name: "ipv6 remote", remote: "[2001:db8::1]:443", want: "2001:db8::1"},
		{name: "untrusted remote: header ignored", proxies: []string{"10.0.0.0/8"}, remote: "203.0.113.7:1", xff: []string{"198.51.100.1"}, want: "203.0.113.7"},
		{name: "trusted proxy: client from header", proxies: []string{"10.0.0.0/8"}, remote: "10.1.2.3:1", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "trusted proxy: no header", proxies: []string{"10.0.0.0/8"}, remote: "10.1.2.3:1", want: "10.1.2.3"},
		{name: "spoofed left entries skipped", proxies: []string{"10.0.0.0/8"}, remote: "10.1.2.3:1", xff: []string{"1.1.1.1, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "chain of trusted proxies", proxies: []string{"10.0.0.0/8", "127.0.0.1"}, remote: "127.0.0.1:1", xff: []string{"198.51.100.1, 10.9.9.9"}, want: "198.51.100.1"},
		{name: "several header lines", proxies: []string{"127.0.0.1"}, remote: "127.0.0.1:1", xff: []string{"1.1.1.1", "198.51.100.2"}, want: "198.51.100.2"},
		{name: "all trusted: leftmost", proxies: []string{"10.0.0.0/8"}, remote: "10.0.0.1:1", xff: []string{"10.0.0.9, 10.0.0.8"}, want: "10.0.0.9"},
		{name: "garbage stops the walk", proxies: []string{"10.0.0.0/8"}, remote: "10.0.0.1:1", xff: []string{"198.51.100.1, not-an-ip"}, want: "10.0.0.1"},
		{name: "garbage behind a good hop", proxies: []string{"10.0.0.0/8"}, remote: "10.0.0.1:1", xff: []string{"junk, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "empty entries", proxies: []string{"10.0.0.0/8"}, remote: "10.0.0.1:1", xff: []string{""}, want: "10.0.0.1"},
		{name: "mapped v4 remote", proxies: []string{"10.0.0.0/8"}, remote: "[::ffff:10.0.0.1]:1", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "ipv6 proxy", proxies: []string{"fd00::/8"}, remote: "[fd00::1]:1", xff: []string{"2001:db8::5"}, want: "2001:db8::5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := compileProxies(tt.proxies)
			if err != nil {
				t.Fatal(err)
			}
			r := &http.Request{RemoteAddr: tt.remote, Header: http.Header{}}
			if tt.xff != nil {
				r.Header["X-Forwarded-For"] = tt.xff
			}
			if got := l.clientAddr(r); got != tt.want {
				t.Errorf("clientAddr = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzClientAddr: any header gives either the remote host or an address
// that parses, never a panic.
func FuzzClientAddr(f *testing.F) {
	f.Add("10.0.0.1:1", "198.51.100.1, 10.0.0.2")
	f.Add("[::1]:1", ",,, ,")
	f.Add("garbage", "1.1.1.1")
	l, err := compileProxies([]string{"10.0.0.0/8", "::1"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		got := l.clientAddr(r)
		if got == hostPart(remote) {
			return
		}
		if _, err := netip.ParseAddr(got); err != nil {
			t.Errorf("clientAddr(%q, %q) = %q: neither the remote host nor an address", remote, xff, got)
		}
	})
}

// compileProxies is trusted_proxies as the server gets it from a policy.
func compileProxies(list []string) (proxyList, error) {
	r, err := policy.Compile(&policy.File{TrustedProxies: list})
	if err != nil {
		return nil, err
	}
	return r.TrustedProxies(), nil
}

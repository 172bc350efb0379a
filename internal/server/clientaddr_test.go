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

func TestLimitKey(t *testing.T) {
	tests := []struct {
		name, addr string
		bits       int
		want       string
	}{
		{name: "ipv4", addr: "198.51.100.7", bits: 64, want: "198.51.100.7"},
		{name: "ipv4-mapped", addr: "::ffff:198.51.100.7", bits: 64, want: "198.51.100.7"},
		{name: "ipv6 /64", addr: "2001:db8:1:2:aaaa:bbbb:cccc:dddd", bits: 64, want: "2001:db8:1:2::/64"},
		{name: "ipv6 /48", addr: "2001:db8:1:2::1", bits: 48, want: "2001:db8:1::/48"},
		{name: "ipv6 /128", addr: "2001:db8::1", bits: 128, want: "2001:db8::1/128"},
		{name: "zone dropped", addr: "fe80::1%eth0", bits: 64, want: "fe80::/64"},
		{name: "loopback", addr: "::1", bits: 64, want: "::/64"},
		{name: "not an address", addr: "garbage:x", bits: 64, want: "garbage:x"},
		{name: "empty", addr: "", bits: 64, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := limitKey(tt.addr, tt.bits); got != tt.want {
				t.Errorf("limitKey(%q, %d) = %q, want %q", tt.addr, tt.bits, got, tt.want)
			}
		})
	}
}

// FuzzLimitKey: any address gives a key, never a panic; two addresses of
// one /64 give the same key.
func FuzzLimitKey(f *testing.F) {
	f.Add("2001:db8::1", uint64(1))
	f.Add("::ffff:1.2.3.4", uint64(7))
	f.Add("fe80::1%eth0", uint64(0))
	f.Fuzz(func(t *testing.T, addr string, low uint64) {
		k := limitKey(addr, 64)
		a, err := netip.ParseAddr(addr)
		if err != nil || a.Unmap().Is4() {
			return
		}
		b := a.WithZone("").As16()
		for i := range 8 {
			b[8+i] = byte(low >> (8 * i))
		}
		if netip.AddrFrom16(b).Is4In6() {
			return // ::ffff:0:0/96 is IPv4, keyed by address
		}
		if k2 := limitKey(netip.AddrFrom16(b).String(), 64); k2 != k {
			t.Errorf("%q -> %q, same /64 %v -> %q", addr, k, netip.AddrFrom16(b), k2)
		}
	})
}

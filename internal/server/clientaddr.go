package server

import (
	"net/http"
	"net/netip"
	"strings"
)

// proxyList is the policy's trusted_proxies (policy.Rules.TrustedProxies).
type proxyList []netip.Prefix

func (l proxyList) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range l {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address a request is rate-limited and logged by: the
// host part of RemoteAddr (without allocating), or, when that is a trusted
// proxy, the nearest address in X-Forwarded-For that is not one. Entries
// are read from the right because only the ones our proxies appended can
// be believed; a client may put anything on the left. A malformed entry
// stops the walk at the last address known good.
func (l proxyList) clientAddr(r *http.Request) string {
	a := hostPart(r.RemoteAddr)
	if len(l) == 0 {
		return a
	}
	ip, err := netip.ParseAddr(a)
	if err != nil || !l.trusts(ip) {
		return a
	}
	for i := len(r.Header["X-Forwarded-For"]) - 1; i >= 0; i-- {
		v := r.Header["X-Forwarded-For"][i]
		for v != "" {
			var entry string
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				entry, v = v[j+1:], v[:j]
			} else {
				entry, v = v, ""
			}
			hop, err := netip.ParseAddr(strings.TrimSpace(entry))
			if err != nil {
				return a
			}
			a = hop.Unmap().String()
			if !l.trusts(hop) {
				return a
			}
		}
	}
	return a
}

// limitKey is the rate-limit key of a client address: an IPv4 address
// as it is, an IPv6 address as its network of v6bits leading bits
// ("2001:db8:1:2::/64"), since one subscriber holds a whole /64 and could
// otherwise take a fresh bucket for every request. Anything else (not an
// address) is its own key.
func limitKey(addr string, v6bits int) string {
	if strings.IndexByte(addr, ':') < 0 {
		return addr // IPv4 (clientAddr unmaps IPv4-in-IPv6), or not an address
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(v6bits)
	if err != nil {
		return addr
	}
	return p.String()
}

// hostPart is the host of a host:port address, brackets removed.
func hostPart(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i > 0 {
		addr = addr[:i]
	}
	return strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
}

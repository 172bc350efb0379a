package server

import (
	"net"
	"net/http"

	"voicetoken/internal/policy"
)

// hostList is the compiled Policy.Hosts: the Host header values the
// server answers to. It is the defence against DNS rebinding: a page on
// evil.example whose name is made to resolve to 127.0.0.1 reaches a
// local voicetoken with "Host: evil.example", and since its Origin then
// matches that Host, the same-origin rule alone would let it mint.
type hostList struct {
	names map[string]bool // lower case, no port
	any   bool
	set   bool // the policy listed hosts
}

// loopbackHosts are always allowed: they cannot be rebound.
var loopbackHosts = []string{"localhost", "127.0.0.1", "::1"}

// newHostList builds the list from the policy's hosts (checked by
// policy.Compile: each is "*" or a valid host).
func newHostList(hosts []string) hostList {
	l := hostList{names: map[string]bool{}, set: len(hosts) > 0}
	for _, h := range loopbackHosts {
		l.names[h] = true
	}
	for _, h := range hosts {
		if h == "*" {
			l.any = true
			continue
		}
		l.names[policy.HostName(h)] = true
	}
	return l
}

// allows reports whether a request's Host may be served. enforce is true
// when the policy lists hosts or the server listens on loopback.
func (l *hostList) allows(host string, loopback bool) bool {
	if l.any || (!l.set && !loopback) {
		return true
	}
	return l.names[policy.HostName(host)]
}

// IsLoopbackAddr reports whether a listen address (host:port) is on
// loopback only: localhost or a loopback IP.
func IsLoopbackAddr(addr string) bool {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// checkHost refuses a request whose Host the policy does not allow.
func (s *Server) checkHost(w http.ResponseWriter, r *http.Request, st *state) bool {
	if st.hosts.allows(r.Host, s.loopback) {
		return true
	}
	e := errf(http.StatusForbidden, CodeHostNotAllowed, "host "+quoteShort(r.Host)+" is not allowed; add it to the policy's hosts (or --allow-host)")
	writeError(w, e)
	s.metrics.deny(e.code)
	return false
}

package server

import (
	"fmt"
	"net"
	"net/http"
	"strings"
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

func compileHosts(hosts []string) (hostList, error) {
	l := hostList{names: map[string]bool{}, set: len(hosts) > 0}
	for _, h := range loopbackHosts {
		l.names[h] = true
	}
	for _, h := range hosts {
		if h == "*" {
			l.any = true
			continue
		}
		name := hostName(h)
		if name == "" || strings.ContainsAny(h, "/ @?#") {
			return l, fmt.Errorf("hosts: %q: want a host name such as voice.example.com (no scheme, no path)", h)
		}
		l.names[name] = true
	}
	return l, nil
}

// hostName is host (a Host header or a configured name) without its port,
// in lower case, brackets removed from IPv6 literals.
func hostName(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
}

// allows reports whether a request's Host may be served. enforce is true
// when the policy lists hosts or the server listens on loopback.
func (l *hostList) allows(host string, loopback bool) bool {
	if l.any || (!l.set && !loopback) {
		return true
	}
	return l.names[hostName(host)]
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
func (s *Server) checkHost(w http.ResponseWriter, r *http.Request, pol *policy) bool {
	if pol.hosts.allows(r.Host, s.loopback) {
		return true
	}
	e := errf(http.StatusForbidden, CodeHostNotAllowed, "host "+quoteShort(r.Host)+" is not allowed; add it to the policy's hosts (or --allow-host)")
	writeError(w, e)
	s.metrics.deny(e.code)
	return false
}

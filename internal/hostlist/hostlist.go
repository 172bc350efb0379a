// Package hostlist is the defence against DNS rebinding shared by `serve`
// and `proxy`: it says whether a request's Host header names this machine
// (or a name the operator listed) and whether a listen address is on
// loopback.
//
// A page on evil.example whose name is made to resolve to 127.0.0.1
// reaches a local server with "Host: evil.example"; since its Origin then
// matches that Host, same-origin rules alone let it read the answers. The
// loopback names (localhost, 127.0.0.1, ::1) cannot be rebound, so they
// are always on a List; anything else must be listed.
package hostlist

import (
	"fmt"
	"net"
	"strings"
)

// List is a set of Host names a server answers to. The zero value allows
// nothing but is not useful; build one with New.
type List struct {
	names map[string]bool // lower case, no port, no brackets
	any   bool
}

// loopbackNames are always allowed: they cannot be rebound.
var loopbackNames = []string{"localhost", "127.0.0.1", "::1"}

// New returns a List of the loopback names plus hosts (host names or
// host:port; "*" allows any Host). A host with a scheme, path, user info
// or query is an error.
func New(hosts []string) (List, error) {
	l := List{names: make(map[string]bool, len(loopbackNames)+len(hosts))}
	for _, h := range loopbackNames {
		l.names[h] = true
	}
	for _, h := range hosts {
		if h == "*" {
			l.any = true
			continue
		}
		if !Valid(h) {
			return l, fmt.Errorf("hosts: %q: want a host name such as voice.example.com (no scheme, no path)", h)
		}
		l.names[Name(h)] = true
	}
	return l, nil
}

// Allows reports whether a request's Host header may be served.
func (l List) Allows(host string) bool {
	return l.any || l.names[Name(host)]
}

// Name is host (a Host header or a configured name) without its port, in
// lower case, brackets removed from IPv6 literals.
func Name(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
}

// Valid reports whether h can be listed: a name (with or without a port),
// no scheme, no path, no user info.
func Valid(h string) bool {
	return Name(h) != "" && !strings.ContainsAny(h, "/ @?#")
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

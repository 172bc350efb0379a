package server

import (
	"net/http"

	"voicetoken/internal/hostlist"
)

// hostList is the compiled Policy.Hosts: the Host header values the
// server answers to (hostlist explains the DNS rebinding it defends
// against). set is true when the policy listed hosts.
type hostList struct {
	list hostlist.List
	set  bool
}

// newHostList builds the list from the policy's hosts (checked by
// policy.Compile: each is "*" or a valid host).
func newHostList(hosts []string) hostList {
	l, _ := hostlist.New(hosts) // valid: policy.Compile checked them
	return hostList{list: l, set: len(hosts) > 0}
}

// allows reports whether a request's Host may be served: always off
// loopback when the policy lists no hosts, else only the listed ones and
// the loopback names.
func (l *hostList) allows(host string, loopback bool) bool {
	if !l.set && !loopback {
		return true
	}
	return l.list.Allows(host)
}

// IsLoopbackAddr reports whether a listen address (host:port) is on
// loopback only: localhost or a loopback IP.
func IsLoopbackAddr(addr string) bool { return hostlist.IsLoopbackAddr(addr) }

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

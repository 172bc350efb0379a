package hostlist_test

import (
	"testing"

	"voicetoken/internal/hostlist"
)

func TestAllows(t *testing.T) {
	tests := []struct {
		name  string
		hosts []string
		host  string
		want  bool
	}{
		{name: "localhost with port", host: "localhost:8787", want: true},
		{name: "127.0.0.1", host: "127.0.0.1:8787", want: true},
		{name: "IPv6 loopback", host: "[::1]:8787", want: true},
		{name: "upper case", host: "LOCALHOST:1", want: true},
		{name: "rebound name", host: "evil.example:8787", want: false},
		{name: "empty Host", host: "", want: false},
		{name: "listed name", hosts: []string{"voice.example.com"}, host: "Voice.Example.com", want: true},
		{name: "listed name with port", hosts: []string{"127.0.0.2:8787"}, host: "127.0.0.2:9", want: true},
		{name: "star", hosts: []string{"*"}, host: "anything", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := hostlist.New(tt.hosts)
			if err != nil {
				t.Fatal(err)
			}
			if got := l.Allows(tt.host); got != tt.want {
				t.Errorf("Allows(%q) = %v, want %v", tt.host, got, tt.want)
			}
		})
	}
}

func TestNewRefusesURLs(t *testing.T) {
	for _, h := range []string{"https://voice.example.com", "voice.example.com/x", "user@voice", ""} {
		if _, err := hostlist.New([]string{h}); err == nil {
			t.Errorf("New(%q) accepted", h)
		}
	}
}

func TestIsLoopbackAddr(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:8787", true}, {"localhost:1", true}, {"[::1]:1", true}, {"127.1.2.3:1", true},
		{"0.0.0.0:8787", false}, {":8787", false}, {"10.0.0.1:1", false}, {"127.0.0.1", false},
	}
	for _, tt := range tests {
		if got := hostlist.IsLoopbackAddr(tt.addr); got != tt.want {
			t.Errorf("IsLoopbackAddr(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

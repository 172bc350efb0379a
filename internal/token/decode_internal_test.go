package token

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestValidNumber(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{in: "0", want: true},
		{in: "-0", want: true},
		{in: "1790000000", want: true},
		{in: "1.5", want: true},
		{in: "1.5e3", want: true},
		{in: "1E+3", want: true},
		{in: "1e-3", want: true},
		{in: "-12.0e0", want: true},
		{in: ""},
		{in: "-"},
		{in: "--1"},
		{in: "+1"},
		{in: "01"},
		{in: "1."},
		{in: ".5"},
		{in: "1e"},
		{in: "1e+"},
		{in: "1.e3"},
		{in: "1e3.5"},
		{in: "1-"},
		{in: "e"},
	}
	for _, tt := range tests {
		if got := validNumber(tt.in); got != tt.want {
			t.Errorf("validNumber(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzValidNumber compares validNumber with encoding/json on strings made
// of number characters only.
func FuzzValidNumber(f *testing.F) {
	for _, s := range []string{"0", "-1.5e+3", "01", "1e", "1.", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" || strings.Trim(s, "0123456789+-.eE") != "" {
			return
		}
		if got, want := validNumber(s), json.Valid([]byte(s)); got != want {
			t.Fatalf("validNumber(%q) = %v, encoding/json says %v", s, got, want)
		}
	})
}

func TestKeySet(t *testing.T) {
	tests := []struct {
		name string
		n    int // distinct keys added before the duplicate
	}{
		{name: "few", n: 3},
		{name: "array full", n: 24},
		{name: "moved to the map", n: 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s keySet
			keys := make([]string, tt.n)
			for i := range keys {
				keys[i] = strings.Repeat("k", i+1)
				if !s.add(keys[i]) {
					t.Fatalf("key %d reported as a duplicate", i)
				}
			}
			for i, k := range keys {
				if s.add(k) {
					t.Errorf("key %d added twice without a complaint", i)
				}
			}
		})
	}
}

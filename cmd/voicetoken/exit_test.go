package main

import (
	"testing"

	"voicetoken/internal/token"
)

func TestVerdictExit(t *testing.T) {
	tests := []struct {
		verdict token.Verdict
		want    int
	}{
		{verdict: token.Valid, want: 0},
		{verdict: token.Expiring, want: 1},
		{verdict: token.Expired, want: 1},
		{verdict: token.NotYetValid, want: 2},
		{verdict: token.BadSignature, want: 2},
		{verdict: token.Malformed, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.verdict.String(), func(t *testing.T) {
			if got := verdictExit(tt.verdict); got != tt.want {
				t.Errorf("exit %d, want %d", got, tt.want)
			}
		})
	}
}

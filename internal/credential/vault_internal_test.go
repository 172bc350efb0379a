package credential

import (
	"testing"
	"time"

	"voicetoken/internal/vault"
)

func TestNextRenewal(t *testing.T) {
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		info vault.TokenInfo
		prev time.Time
		next time.Time
		over string
	}{
		{name: "first look, 1h renewable: at 40m", info: vault.TokenInfo{TTL: time.Hour, Renewable: true}, next: at.Add(40 * time.Minute)},
		{name: "renewed, extended", info: vault.TokenInfo{TTL: time.Hour, Renewable: true}, prev: at.Add(20 * time.Minute), next: at.Add(40 * time.Minute)},
		{name: "root: never expires", info: vault.TokenInfo{}, over: "it never expires"},
		{name: "not renewable", info: vault.TokenInfo{TTL: time.Hour}, over: "it is not renewable"},
		{name: "renewed to the same end: max TTL", info: vault.TokenInfo{TTL: 20 * time.Minute, Renewable: true}, prev: at.Add(20 * time.Minute), over: "it has reached its max TTL"},
		{name: "renewed to less than before", info: vault.TokenInfo{TTL: 5 * time.Minute, Renewable: true}, prev: at.Add(20 * time.Minute), over: "it has reached its max TTL"},
		{name: "a short TTL still renews before its end", info: vault.TokenInfo{TTL: 3 * time.Second, Renewable: true}, next: at.Add(2 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, over := nextRenewal(tt.info, tt.prev, at)
			if !next.Equal(tt.next) || over != tt.over {
				t.Errorf("nextRenewal = %v, %q; want %v, %q", next, over, tt.next, tt.over)
			}
		})
	}
}

//go:build race

package token_test

// raceEnabled: the race detector adds allocations and drops pooled
// values at random, so allocation counts mean nothing under it.
const raceEnabled = true

// Command agent is the test's stand-in for an agent that reads its
// upstream token only at start-up: from PODIUM_TOKEN, or from the file
// PODIUM_TOKEN_FILE names. It prints "started FINGERPRINT" once, then
// "signal NAME" for each signal; SIGTERM exits 0 unless AGENT_IGNORE_TERM
// is set, SIGUSR1 exits 7.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	tok := os.Getenv("PODIUM_TOKEN")
	if p := os.Getenv("PODIUM_TOKEN_FILE"); tok == "" && p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		tok = strings.TrimSpace(string(b))
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGINT)
	sum := sha256.Sum256([]byte(tok))
	fmt.Printf("started %s\n", hex.EncodeToString(sum[:4]))
	for s := range sigs {
		fmt.Printf("signal %s\n", s)
		switch s {
		case syscall.SIGTERM:
			if os.Getenv("AGENT_IGNORE_TERM") == "" {
				os.Exit(0)
			}
		case syscall.SIGUSR1:
			os.Exit(7)
		}
	}
}

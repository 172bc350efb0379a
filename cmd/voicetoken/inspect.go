package main

import (
	"context"
	"encoding/json"
	"fmt"

	"voicetoken/internal/token"
)

const inspectUsage = `Usage: voicetoken inspect TOKEN | - | --file F | --html F

Decodes a JWT's header and claims without any key and prints them with
human-readable times. NOTHING IS VERIFIED: not the signature, not the
times. Works on any algorithm, so it also reads an agent's upstream token.
Use 'voicetoken verify' for a verdict.`

func runInspect(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "inspect", inspectUsage)
	var in tokenInput
	in.register(fs)
	asJSON := fs.Bool("json", false, "print {header, claims} as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ms, err := in.read(e, fs.Args())
	if err != nil {
		return err
	}
	if len(ms) > 1 {
		fmt.Fprintf(e.stderr, "note: %s holds %d tokens; decoding the first (line %d); 'voicetoken verify --html' judges them all\n", in.html, len(ms), ms[0].Line)
	}
	raw := ms[0].Token
	t, err := token.Decode(raw)
	if err != nil {
		return &exitError{code: exitInvalid, err: fmt.Errorf("cannot decode: %w", err)}
	}
	if *asJSON {
		return writeJSON(e.stdout, struct {
			Verified    bool          `json:"verified"`
			Fingerprint string        `json:"token_fingerprint"`
			Header      token.Header  `json:"header"`
			Claims      *token.Claims `json:"claims"`
			Warnings    []string      `json:"warnings,omitempty"`
		}{false, token.Fingerprint(raw), t.Header, &t.Claims, token.Problems(&t.Claims)})
	}
	fmt.Fprintln(e.stdout, "NOT VERIFIED: decoded only; the signature and times were not checked")
	hdr, _ := json.Marshal(t.Header)
	fmt.Fprintf(e.stdout, "  %-10s %s\n", "header", token.EscapeInvisible(hdr))
	writeClaims(e.stdout, &t.Claims, e.now())
	claims, _ := json.MarshalIndent(&t.Claims, "  ", "  ")
	fmt.Fprintf(e.stdout, "  %-10s %s\n", "claims", token.EscapeInvisible(claims))
	return nil
}

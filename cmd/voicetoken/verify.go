package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"voicetoken/internal/keys"
	"voicetoken/internal/page"
	"voicetoken/internal/token"
)

const verifyUsage = `Usage: voicetoken verify [flags] TOKEN | - | --file F | --html F

Checks a LiveKit token: HS256 only, the signature against the API secret
(when one is configured, or LiveKit's dev secret when the token was issued
by devkey), and exp/nbf with LiveKit's 1 minute leeway. Prints a verdict:

  VALID          exit 0
  EXPIRING       exit 1  valid, but expires within --warn
  EXPIRED        exit 1
  NOT YET VALID  exit 2
  BAD SIGNATURE  exit 2  (or no secret known for its API key)
  MALFORMED      exit 2  (not a JWT, alg other than HS256, no exp, too large)
  usage error    exit 3

A claim LiveKit would silently misread (a participant kind or a
canPublishSources entry it does not know) or refuse at join (no room; an
identity, room name, metadata or attributes over its default limits), and
a storage credential in roomConfig's egress (readable by whoever holds
the token), is shown as a warning; it does not change the verdict.

A token API's JSON answer is accepted as the token (its "token" or
"participant_token" field), on stdin or in --file.

Examples:
  voicetoken verify "$TOKEN"
  voicetoken verify --html voice-agent-selector.html --warn 2h
  curl -s 'localhost:9000/api/token?room=r' | voicetoken verify --json -`

func runVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "verify", verifyUsage)
	var (
		kf     keyFlags
		in     tokenInput
		warn   = fs.Duration("warn", 0, "verdict EXPIRING (exit 1) when the token expires within this, e.g. 2h")
		asJSON = fs.Bool("json", false, "print the report as JSON")
	)
	kf.registerVerify(fs)
	in.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *warn < 0 {
		return usageErr("--warn must not be negative")
	}
	ms, err := in.read(e, fs.Args())
	if err != nil {
		return err
	}
	now := e.now()
	reports := make([]token.Report, len(ms))
	notes := make([]string, len(ms))
	for i, m := range ms {
		keyring, note, err := verifyKeys(e, &kf, m.Token)
		if err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		reports[i], notes[i] = token.Check(m.Token, keyring, now, *warn), note
	}
	w := page.Worst(reports)
	rep := reports[w]
	if *asJSON {
		if err := writeReportJSON(e.stdout, rep, ms[w].Token, notes[w], now, pageTokens(in.html, ms, reports, w)); err != nil {
			return err
		}
	} else {
		writeReport(e.stdout, rep, notes[w], now)
		if in.html != "" {
			writePageTokens(e.stdout, pageTokens(in.html, ms, reports, w))
		}
	}
	if code := verdictExit(rep.Verdict); code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// pageToken is one token of an --html page in verify's report.
type pageToken struct {
	Line             int           `json:"line"`
	Verdict          token.Verdict `json:"verdict"`
	Worst            bool          `json:"worst,omitempty"`
	TokenFingerprint string        `json:"token_fingerprint"`
	Identity         string        `json:"identity,omitempty"`
	Room             string        `json:"room,omitempty"`
}

// pageTokens lists an --html page's tokens; nil for any other input.
func pageTokens(html string, ms []page.Match, reports []token.Report, worst int) []pageToken {
	if html == "" {
		return nil
	}
	out := make([]pageToken, len(ms))
	for i, m := range ms {
		out[i] = pageToken{Line: m.Line, Verdict: reports[i].Verdict, Worst: i == worst, TokenFingerprint: token.Fingerprint(m.Token)}
		if t := reports[i].Token; t != nil {
			out[i].Identity, out[i].Room = t.Claims.ParticipantIdentity(), t.Claims.Room()
		}
	}
	return out
}

// writePageTokens prints one line per token of a page:
// "  line 12    EXPIRED        user1 in test-room, token 1a2b3c4d".
func writePageTokens(w io.Writer, ts []pageToken) {
	for _, t := range ts {
		who := ""
		switch {
		case t.Identity != "" && t.Room != "":
			who = t.Identity + " in " + t.Room + ", "
		case t.Identity != "":
			who = t.Identity + ", "
		}
		mark := ""
		if t.Worst && len(ts) > 1 {
			mark = "  (the worst: reported above)"
		}
		fmt.Fprintf(w, "  line %-6d %-14s %stoken %s%s\n", t.Line, t.Verdict, safe(who), t.TokenFingerprint, mark)
	}
}

// verifyKeys decides what the signature is checked with: the configured
// keys; with none, LiveKit's dev secret for tokens issued by devkey; else
// nothing, and the report says the signature was not checked.
func verifyKeys(e *env, kf *keyFlags, raw string) (token.Keyring, string, error) {
	if kf.configured(e) {
		set, err := kf.load(e, false)
		if err != nil {
			return nil, "", err
		}
		return set, "", nil
	}
	if t, err := token.Parse(raw); err == nil && t.Claims.Issuer == keys.DevKey {
		// LiveKit's dev secret checks the signature; verify signs nothing,
		// so the "NOT SAFE FOR PRODUCTION" warning of signing is not due.
		set, err := keys.NewSet(keys.Pair{Key: keys.DevKey, Secret: keys.DevSecret})
		if err != nil {
			return nil, "", err
		}
		return set, "", nil
	}
	return nil, "signature NOT checked: no API secret configured (set LIVEKIT_API_SECRET, --env-file or --key-file)", nil
}

func writeReport(w io.Writer, rep token.Report, note string, now time.Time) {
	line := rep.Verdict.String()
	if rep.Err != nil {
		line += ": " + safe(rep.Err.Error())
	}
	fmt.Fprintln(w, line)
	if rep.Key != nil {
		fmt.Fprintf(w, "  signature  ok, key %s\n", rep.Key)
	} else if note != "" {
		fmt.Fprintf(w, "  signature  %s\n", note)
	}
	if rep.Token != nil {
		writeClaims(w, &rep.Token.Claims, now)
	}
}

// writeClaims prints the claims an operator looks at, times in UTC and local.
func writeClaims(w io.Writer, c *token.Claims, now time.Time) {
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "  %-10s %s\n", k, safe(v))
		}
	}
	row("identity", c.ParticipantIdentity())
	row("name", token.Abbrev(c.Name, 60))
	row("kind", c.Kind)
	row("room", c.Room())
	row("api key", c.Issuer)
	row("grants", strings.Join(token.GrantNames(c), " "))
	for _, p := range verifyWarnings(c) {
		row("warning", p)
	}
	row("metadata", token.Abbrev(c.Metadata, 60))
	attrs := make([]string, 0, len(c.Attributes))
	for _, k := range slices.Sorted(maps.Keys(c.Attributes)) {
		attrs = append(attrs, k+"="+c.Attributes[k])
	}
	row("attributes", token.Abbrev(strings.Join(attrs, " "), 60))
	// roomConfig in brief: its egress section may hold a storage secret,
	// and the whole claim is in inspect's and --json's claims.
	agents, settings := token.RoomConfigSummary(c.RoomConfig)
	for _, a := range agents {
		row("agent", a)
	}
	row("roomConfig", strings.Join(settings, "; "))
	row("issued", stamp(c.IssuedAt))
	row("not before", stamp(c.NotBefore))
	if exp, ok := c.Expiry(); ok {
		rel := "expires in " + token.HumanDuration(exp.Sub(now))
		if now.After(exp) {
			rel = "expired " + token.HumanDuration(now.Sub(exp)) + " ago"
		}
		row("expires", stamp(c.ExpiresAt)+"  "+rel)
	} else {
		row("expires", "never (no exp claim: LiveKit refuses such tokens)")
	}
	if len(c.Extra) > 0 {
		names := make([]string, 0, len(c.Extra))
		for k := range c.Extra {
			names = append(names, k)
		}
		row("other", strings.Join(names, " "))
	}
}

// noGrant is verify's warning for a JWT that carries no LiveKit grant.
const noGrant = "no LiveKit grant (video, sip, agent...): a JWT, but not a LiveKit participant token; LiveKit refuses it at join"

// verifyWarnings are the claims LiveKit would misread or refuse, and a
// token with no LiveKit grant at all, which can be VALID as a JWT.
func verifyWarnings(c *token.Claims) []string {
	ws := token.Problems(c)
	if len(token.GrantNames(c)) == 0 {
		ws = append([]string{noGrant}, ws...)
	}
	return ws
}

// safe makes a claim printable on a terminal (token.Printable): a value
// with control characters, C1 codes, invalid UTF-8, bidi overrides or
// zero-width characters is shown quoted, escapes visible.
func safe(s string) string { return token.Printable(s) }

// writeJSON writes v as indented JSON with the invisible runes escaped
// (token.EscapeInvisible), as json escapes control characters.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(token.EscapeInvisible(b), '\n'))
	return err
}

func stamp(sec int64) string {
	if sec == 0 {
		return ""
	}
	return stampIn(sec, time.Local)
}

// stampIn writes sec in UTC and, when loc's clock differs from UTC's at
// that instant, in loc too.
func stampIn(sec int64, loc *time.Location) string {
	t := time.Unix(sec, 0)
	utc := t.UTC().Format("2006-01-02 15:04:05 UTC")
	if _, offset := t.In(loc).Zone(); offset == 0 {
		return utc
	}
	return utc + " (" + t.In(loc).Format("2006-01-02 15:04:05 MST") + ")"
}

func writeReportJSON(w io.Writer, rep token.Report, raw, note string, now time.Time, tokens []pageToken) error {
	type out struct {
		Verdict          token.Verdict `json:"verdict"`
		ExitCode         int           `json:"exit_code"`
		Error            string        `json:"error,omitempty"`
		SignatureChecked bool          `json:"signature_checked"`
		Note             string        `json:"note,omitempty"`
		Key              string        `json:"api_key,omitempty"`
		KeyFingerprint   string        `json:"secret_fingerprint,omitempty"`
		TokenFingerprint string        `json:"token_fingerprint"`
		Identity         string        `json:"identity,omitempty"`
		Room             string        `json:"room,omitempty"`
		Grants           []string      `json:"grants,omitempty"`
		Warnings         []string      `json:"warnings,omitempty"`
		IssuedAt         *time.Time    `json:"issued_at,omitempty"`
		ExpiresAt        *time.Time    `json:"expires_at,omitempty"`
		ExpiresIn        *int64        `json:"expires_in_seconds,omitempty"`
		Header           *token.Header `json:"header,omitempty"`
		Claims           *token.Claims `json:"claims,omitempty"`
		Line             int           `json:"line,omitempty"`
		Tokens           []pageToken   `json:"tokens,omitempty"`
	}
	o := out{
		Verdict: rep.Verdict, ExitCode: verdictExit(rep.Verdict), SignatureChecked: rep.SignatureChecked,
		Note: note, TokenFingerprint: token.Fingerprint(raw), Tokens: tokens,
	}
	for _, t := range tokens {
		if t.Worst {
			o.Line = t.Line
		}
	}
	if rep.Err != nil {
		o.Error = rep.Err.Error()
	}
	if rep.Key != nil {
		o.Key, o.KeyFingerprint = rep.Key.ID, rep.Key.SecretFingerprint()
	}
	if t := rep.Token; t != nil {
		c := &t.Claims
		o.Identity, o.Room, o.Grants = c.ParticipantIdentity(), c.Room(), token.GrantNames(c)
		o.Warnings = verifyWarnings(c)
		o.Header, o.Claims = &t.Header, c
		if c.IssuedAt != 0 {
			ts := time.Unix(c.IssuedAt, 0).UTC()
			o.IssuedAt = &ts
		}
		if exp, ok := c.Expiry(); ok {
			ts := exp.UTC()
			in := int64(exp.Sub(now) / time.Second)
			o.ExpiresAt, o.ExpiresIn = &ts, &in
		}
	}
	return writeJSON(w, o)
}

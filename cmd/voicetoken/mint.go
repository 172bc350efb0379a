package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"voicetoken/internal/token"
)

const mintUsage = `Usage: voicetoken mint --room R --identity I [flags]

Mints a LiveKit access token (HS256) with the API key and secret from
--api-key/--api-secret, LIVEKIT_API_KEY/LIVEKIT_API_SECRET, --env-file or
--key-file. With none of them it uses LiveKit's dev pair devkey/secret and
says so on stderr. Flags follow LiveKit's 'lk token create'.

Examples:
  voicetoken mint --room test-room --identity user1
  voicetoken mint --room demo --identity bot --ttl 10m --publish=false --json
  voicetoken mint --list --create --identity ops --ttl 1h     # server API token
  voicetoken mint --room demo --identity u --agent my-agent   # dispatch an agent`

func runMint(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "mint", mintUsage)
	var kf keyFlags
	kf.register(fs)
	var (
		c        token.Claims
		room     = fs.String("room", "", "room name; with it the token may join the room (roomJoin)")
		ttl      = ttlFlag{d: 6 * time.Hour}
		join     = fs.Bool("join", false, "grant roomJoin (implied by --room)")
		publish  = fs.Bool("publish", true, "allow publishing tracks (canPublish)")
		sub      = fs.Bool("subscribe", true, "allow subscribing (canSubscribe)")
		data     = fs.Bool("publish-data", true, "allow data messages (canPublishData)")
		updMeta  = fs.Bool("update-metadata", false, "allow updating own metadata (canUpdateOwnMetadata)")
		admin    = fs.Bool("admin", false, "grant roomAdmin")
		list     = fs.Bool("list", false, "grant roomList")
		create   = fs.Bool("create", false, "grant roomCreate")
		record   = fs.Bool("record", false, "grant roomRecord")
		ingress  = fs.Bool("ingress-admin", false, "grant ingressAdmin")
		hidden   = fs.Bool("hidden", false, "participant is hidden from others")
		grantArg = fs.String("grant", "", "video grant as JSON, merged over the flags, e.g. '{\"canPublishSources\":[\"microphone\"]}'")
		roomCfg  = fs.String("room-config", "", "room configuration as JSON (LiveKit RoomConfiguration)")
		agent    = fs.String("agent", "", "agent to dispatch into the room (roomConfig.agents)")
		jobMeta  = fs.String("job-metadata", "", "metadata for the dispatched agent's job")
		asJSON   = fs.Bool("json", false, "print {token, identity, room, expires_at, ttl_seconds, grants} as JSON")
		attrs    attrFlag
		sources  listFlag
	)
	fs.StringVar(&c.Subject, "identity", "", "participant identity (sub); required to join")
	fs.StringVar(&c.Name, "name", "", "participant display name")
	fs.StringVar(&c.Metadata, "metadata", "", "participant metadata (usually JSON)")
	fs.StringVar(&c.Kind, "kind", "", "participant kind: standard, agent, sip, ingress, egress, connector, bridge")
	fs.Var(&ttl, "ttl", "validity: a duration (10m, 6h) or hours as a number (LiveKit's default 6h)")
	fs.Var(&ttl, "valid-for", "alias of --ttl, as in 'lk token create'")
	fs.Var(&attrs, "attribute", "participant attribute key=value (repeatable)")
	fs.Var(&sources, "allow-source", "track source the participant may publish: camera, microphone, screen_share, screen_share_audio (repeatable)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q: mint takes flags only, e.g. --room R --identity I", fs.Arg(0))
	}
	set := flagsSet(fs)

	v := &token.VideoGrant{
		Room: *room, RoomJoin: *join || *room != "", RoomAdmin: *admin, RoomList: *list,
		RoomCreate: *create, RoomRecord: *record, IngressAdmin: *ingress, Hidden: *hidden,
		CanPublishSources: sources,
	}
	// LiveKit treats an unset permission as granted: write one only when
	// the flag was given, so the token says exactly what was asked.
	for _, f := range []struct {
		name string
		val  bool
		dst  **bool
	}{
		{"publish", *publish, &v.CanPublish},
		{"subscribe", *sub, &v.CanSubscribe},
		{"publish-data", *data, &v.CanPublishData},
		{"update-metadata", *updMeta, &v.CanUpdateOwnMetadata},
	} {
		if set[f.name] {
			*f.dst = token.Bool(f.val)
		}
	}
	if *grantArg != "" {
		if err := json.Unmarshal([]byte(*grantArg), v); err != nil {
			return usageErr("--grant is not a JSON video grant: %v", err)
		}
	}
	for i, src := range v.CanPublishSources {
		src, err := token.ParseTrackSource(src)
		if err != nil {
			return usageErr("%v", err)
		}
		v.CanPublishSources[i] = src
	}
	if c.Kind != "" {
		kind, err := token.ParseKind(c.Kind)
		if err != nil {
			return usageErr("--kind: %v", err)
		}
		c.Kind = kind
	}
	if (v.RoomAdmin || v.RoomJoin) && v.Room == "" {
		return usageErr("--room is required to join or administer a room")
	}
	if b, _ := v.MarshalJSON(); string(b) != "{}" {
		c.Video = v
	}
	if len(attrs) > 0 {
		c.Attributes = attrs
	}
	if *roomCfg != "" {
		if !json.Valid([]byte(*roomCfg)) || !strings.HasPrefix(strings.TrimSpace(*roomCfg), "{") {
			return usageErr("--room-config must be a JSON object")
		}
		c.RoomConfig = json.RawMessage(*roomCfg)
	}
	if *agent != "" {
		if c.RoomConfig != nil {
			return usageErr("use either --agent or --room-config, not both")
		}
		cfg, _ := json.Marshal(map[string]any{"agents": []map[string]string{{"agentName": *agent, "metadata": *jobMeta}}})
		c.RoomConfig = cfg
	}
	if c.Video == nil && c.RoomConfig == nil && c.SIP == nil {
		return usageErr("the token grants nothing: give --room (to join), or --list/--create/--admin")
	}

	// Over one of LiveKit's default limits (a server may have raised it),
	// or a credential in --room-config: minted, with a warning.
	for _, p := range token.Problems(&c) {
		fmt.Fprintf(e.stderr, "voicetoken mint: warning: %s\n", p)
	}
	ks, err := kf.load(e, true)
	if err != nil {
		return err
	}
	now := e.now()
	raw, err := ks.Primary().Mint(c, now, ttl.d)
	if err != nil {
		return usageErr("%v", err)
	}
	if !*asJSON {
		fmt.Fprintln(e.stdout, raw)
		return nil
	}
	out := struct {
		Token      string            `json:"token"`
		Identity   string            `json:"identity"`
		Room       string            `json:"room,omitempty"`
		ExpiresAt  time.Time         `json:"expires_at"`
		TTLSeconds int64             `json:"ttl_seconds"`
		Grants     *token.VideoGrant `json:"grants,omitempty"`
		Key        string            `json:"api_key"`
	}{raw, c.Subject, v.Room, now.Add(ttl.d).UTC().Truncate(time.Second), int64(ttl.d / time.Second), c.Video, ks.Primary().ID}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// ttlFlag accepts a Go duration or a number of hours (the seed's ttl=48).
type ttlFlag struct{ d time.Duration }

func (t *ttlFlag) String() string { return t.d.String() }
func (t *ttlFlag) Set(s string) error {
	d, err := token.ParseTTL(s)
	if err != nil {
		return err
	}
	t.d = d
	return nil
}

// attrFlag collects key=value pairs.
type attrFlag map[string]string

func (a *attrFlag) String() string { return fmt.Sprint(map[string]string(*a)) }
func (a *attrFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	if *a == nil {
		*a = attrFlag{}
	}
	(*a)[k] = v
	return nil
}

// listFlag collects repeated values.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

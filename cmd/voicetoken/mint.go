package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"voicetoken/internal/token"
)

const mintUsage = `Usage: voicetoken mint --room R --identity I [flags]

Mints a LiveKit access token (HS256) with the API key and secret from
--api-key/--api-secret, LIVEKIT_API_KEY/LIVEKIT_API_SECRET, --env-file or
--key-file. With none of them it uses LiveKit's dev pair devkey/secret and
says so on stderr. Flags follow LiveKit's 'lk token create' (--egress,
--ingress, --inference, --allow-update-metadata, --valid-for, --deployment
are its names); the grants are grouped as LiveKit's docs group them.

--grant merges JSON over the flags: a video grant as lk takes it, or
NAME=JSON for LiveKit's other grant objects (sip, agent, inference,
observability, agentEndpoint). A key the grant does not have is an error,
not dropped: LiveKit allows what a token does not deny.

LiveKit's open-source server checks sip.admin (SIP trunks and dispatch
rules), sip.call (outbound calls, transfers) and roomAdmin (agent
dispatch API); agent.admin, inference and observability are for LiveKit
Cloud's services.

Examples:
  voicetoken mint --room test-room --identity user1
  voicetoken mint --room demo --identity bot --ttl 10m --publish=false --json
  voicetoken mint --list --create --identity ops --ttl 1h     # server API token
  voicetoken mint --room demo --identity u --agent my-agent   # dispatch an agent
  voicetoken mint --identity telephony --sip-admin --sip-call --ttl 10m
  voicetoken mint --room r --identity u --grant '{"canPublishSources":["microphone"]}'
  voicetoken mint --identity ops --grant 'agent={"admin":true}' --grant 'sip={"call":true}'`

// mintGroups are mint's -h sections, LiveKit's grant groups.
func mintGroups() []flagGroup {
	return []flagGroup{
		{"Participant", []string{"identity", "name", "metadata", "attribute", "kind"}},
		{"Room: join one room, and what the participant may do in it (video grant)", []string{"room", "join", "publish", "subscribe", "publish-data", "allow-source", "update-metadata", "allow-update-metadata", "hidden"}},
		{"Admin: LiveKit's server APIs (video grant)", []string{"admin", "create", "list", "record", "egress", "ingress-admin", "ingress"}},
		{"SIP (sip grant)", []string{"sip-admin", "sip-call"}},
		{"Agent: dispatch into the room (roomConfig), administer agents (agent grant)", []string{"agent", "deployment", "job-metadata", "room-config", "agent-admin"}},
		{"Inference and observability", []string{"inference", "observability"}},
		{"Any grant as JSON", []string{"grant"}},
		{"Token", []string{"ttl", "valid-for", "json"}},
		{"Keys", []string{"api-key", "api-secret", "env-file", "key-file", "key"}},
	}
}

// mintFlags is what mint's command line asks for, before it becomes claims.
type mintFlags struct {
	c                                     token.Claims
	room, roomCfg, agent, deploy, jobMeta string
	ttl                                   ttlFlag
	join, publish, sub, data, updMeta     bool
	admin, list, create, record, ingress  bool
	hidden, sipAdmin, sipCall, agentAdmin bool
	inference, observability, asJSON      bool
	attrs                                 attrFlag
	sources, grants                       listFlag
	set                                   map[string]bool
}

func (m *mintFlags) register(fs *flag.FlagSet) {
	m.ttl = ttlFlag{d: 6 * time.Hour}
	fs.StringVar(&m.c.Subject, "identity", "", "participant identity (sub); required to join")
	fs.StringVar(&m.c.Name, "name", "", "participant display name")
	fs.StringVar(&m.c.Metadata, "metadata", "", "participant metadata (usually JSON)")
	fs.Var(&m.attrs, "attribute", "participant attribute key=value (repeatable)")
	fs.StringVar(&m.c.Kind, "kind", "", "participant kind: standard, agent, sip, ingress, egress, connector, bridge")

	fs.StringVar(&m.room, "room", "", "room name; with it the token may join the room (roomJoin)")
	fs.BoolVar(&m.join, "join", false, "may join the room (roomJoin; implied by --room)")
	fs.BoolVar(&m.publish, "publish", true, "may publish tracks (canPublish)")
	fs.BoolVar(&m.sub, "subscribe", true, "may subscribe to others' tracks (canSubscribe)")
	fs.BoolVar(&m.data, "publish-data", true, "may send data messages (canPublishData)")
	fs.Var(&m.sources, "allow-source", "track source the participant may publish: camera, microphone, screen_share, screen_share_audio (repeatable; default all)")
	fs.BoolVar(&m.updMeta, "update-metadata", false, "may update its own name, metadata and attributes (canUpdateOwnMetadata)")
	fs.BoolVar(&m.updMeta, "allow-update-metadata", false, "alias of --update-metadata, as in 'lk token create'")
	fs.BoolVar(&m.hidden, "hidden", false, "hidden from the other participants (hidden)")

	fs.BoolVar(&m.admin, "admin", false, "may moderate the room: remove, mute, update participants (roomAdmin; needs --room)")
	fs.BoolVar(&m.create, "create", false, "may create and delete rooms (roomCreate)")
	fs.BoolVar(&m.list, "list", false, "may list rooms (roomList)")
	fs.BoolVar(&m.record, "record", false, "may use Egress: record and stream (roomRecord)")
	fs.BoolVar(&m.record, "egress", false, "alias of --record, as in 'lk token create'")
	fs.BoolVar(&m.ingress, "ingress-admin", false, "may use Ingress: bring in RTMP, WHIP, URL streams (ingressAdmin)")
	fs.BoolVar(&m.ingress, "ingress", false, "alias of --ingress-admin, as in 'lk token create'")

	fs.BoolVar(&m.sipAdmin, "sip-admin", false, "may manage SIP trunks and dispatch rules (sip.admin)")
	fs.BoolVar(&m.sipCall, "sip-call", false, "may make and transfer SIP calls (sip.call)")

	fs.StringVar(&m.agent, "agent", "", "agent to dispatch into the room when this participant creates it (roomConfig.agents)")
	fs.StringVar(&m.deploy, "deployment", "", "deployment of the dispatched agent (empty: production)")
	fs.StringVar(&m.jobMeta, "job-metadata", "", "metadata for the dispatched agent's job")
	fs.StringVar(&m.roomCfg, "room-config", "", "room configuration as JSON (LiveKit RoomConfiguration)")
	fs.BoolVar(&m.agentAdmin, "agent-admin", false, "may administer LiveKit Cloud agents (agent.admin)")

	fs.BoolVar(&m.inference, "inference", false, "may use LiveKit Inference, its AI endpoints (inference.perform)")
	fs.BoolVar(&m.observability, "observability", false, "may write observability data: traces, logs, recordings (observability.write)")

	fs.Var(&m.grants, "grant", "grant as JSON merged over the flags: a video grant '{\"canPublishSources\":[\"microphone\"]}' or NAME=JSON, NAME one of sip, agent, inference, observability, agentEndpoint (repeatable)")

	fs.Var(&m.ttl, "ttl", "validity: a duration (10m, 6h) or hours as a number (LiveKit's default 6h)")
	fs.Var(&m.ttl, "valid-for", "alias of --ttl, as in 'lk token create'")
	fs.BoolVar(&m.asJSON, "json", false, "print {token, identity, room, expires_at, ttl_seconds, grants, ...} as JSON")
}

func runMint(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "mint", mintUsage, mintGroups()...)
	var kf keyFlags
	kf.register(fs)
	var m mintFlags
	m.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q: mint takes flags only, e.g. --room R --identity I", fs.Arg(0))
	}
	m.set = flagsSet(fs)
	c, err := m.claims()
	if err != nil {
		return err
	}

	// Over one of LiveKit's default limits (a server may have raised it),
	// or a credential in --room-config: minted, with a warning.
	for _, p := range token.Problems(c) {
		fmt.Fprintf(e.stderr, "voicetoken mint: warning: %s\n", p)
	}
	ks, err := kf.load(e, true)
	if err != nil {
		return err
	}
	now := e.now()
	raw, err := ks.Primary().Mint(*c, now, m.ttl.d)
	if err != nil {
		return usageErr("%v", err)
	}
	if !m.asJSON {
		fmt.Fprintln(e.stdout, raw)
		return nil
	}
	out := struct {
		Token         string                    `json:"token"`
		Identity      string                    `json:"identity"`
		Room          string                    `json:"room,omitempty"`
		ExpiresAt     time.Time                 `json:"expires_at"`
		TTLSeconds    int64                     `json:"ttl_seconds"`
		Grants        *token.VideoGrant         `json:"grants,omitempty"`
		SIP           *token.SIPGrant           `json:"sip,omitempty"`
		Agent         *token.AgentGrant         `json:"agent,omitempty"`
		Inference     *token.InferenceGrant     `json:"inference,omitempty"`
		Observability *token.ObservabilityGrant `json:"observability,omitempty"`
		AgentEndpoint *token.AgentEndpointGrant `json:"agentEndpoint,omitempty"`
		Key           string                    `json:"api_key"`
	}{raw, c.Subject, c.Room(), now.Add(m.ttl.d).UTC().Truncate(time.Second), int64(m.ttl.d / time.Second),
		c.Video, c.SIP, c.Agent, c.Inference, c.Observability, c.AgentEndpoint, ks.Primary().ID}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// claims turns the flags into the token's claims, or a usage error.
func (m *mintFlags) claims() (*token.Claims, error) {
	c := &m.c
	c.Video = m.videoGrant()
	m.serviceGrants(c)
	if err := m.parseSpecs(c); err != nil {
		return nil, err
	}
	if v := c.Video; (v.RoomAdmin || v.RoomJoin) && v.Room == "" {
		return nil, usageErr("--room is required to join or administer a room")
	}
	if b, _ := c.Video.MarshalJSON(); string(b) == "{}" {
		c.Video = nil
	}
	if len(m.attrs) > 0 {
		c.Attributes = m.attrs
	}
	if err := m.roomConfig(c); err != nil {
		return nil, err
	}
	if c.Video == nil && c.RoomConfig == nil && c.SIP == nil && c.Agent == nil && c.Inference == nil &&
		c.Observability == nil && c.AgentEndpoint == nil {
		return nil, usageErr("the token grants nothing: give --room (to join), --list/--create/--admin, --sip-admin, ... (see -h)")
	}
	return c, nil
}

// videoGrant is the video grant the room and permission flags ask for.
func (m *mintFlags) videoGrant() *token.VideoGrant {
	v := &token.VideoGrant{
		Room: m.room, RoomJoin: m.join || m.room != "", RoomAdmin: m.admin, RoomList: m.list,
		RoomCreate: m.create, RoomRecord: m.record, IngressAdmin: m.ingress, Hidden: m.hidden,
		CanPublishSources: m.sources,
	}
	// LiveKit treats an unset permission as granted: write one only when
	// the flag was given, so the token says exactly what was asked.
	for _, f := range []struct {
		names []string
		val   bool
		dst   **bool
	}{
		{[]string{"publish"}, m.publish, &v.CanPublish},
		{[]string{"subscribe"}, m.sub, &v.CanSubscribe},
		{[]string{"publish-data"}, m.data, &v.CanPublishData},
		{[]string{"update-metadata", "allow-update-metadata"}, m.updMeta, &v.CanUpdateOwnMetadata},
	} {
		if slices.ContainsFunc(f.names, func(n string) bool { return m.set[n] }) {
			*f.dst = token.Bool(f.val)
		}
	}
	return v
}

// serviceGrants sets the SIP, agent, inference and observability grants
// their flags ask for.
func (m *mintFlags) serviceGrants(c *token.Claims) {
	if m.sipAdmin || m.sipCall {
		c.SIP = &token.SIPGrant{Admin: m.sipAdmin, Call: m.sipCall}
	}
	if m.agentAdmin {
		c.Agent = &token.AgentGrant{Admin: true}
	}
	if m.inference {
		c.Inference = &token.InferenceGrant{Perform: true}
	}
	if m.observability {
		c.Observability = &token.ObservabilityGrant{Write: true}
	}
}

// parseSpecs applies --grant over c and checks the names given as text:
// the track sources and --kind.
func (m *mintFlags) parseSpecs(c *token.Claims) error {
	for _, g := range m.grants {
		if err := token.ApplyGrantSpec(c, g); err != nil {
			return usageErr("--grant: %v", err)
		}
	}
	for i, src := range c.Video.CanPublishSources {
		src, err := token.ParseTrackSource(src)
		if err != nil {
			return usageErr("%v", err)
		}
		c.Video.CanPublishSources[i] = src
	}
	if c.Kind == "" {
		return nil
	}
	kind, err := token.ParseKind(c.Kind)
	if err != nil {
		return usageErr("--kind: %v", err)
	}
	c.Kind = kind
	return nil
}

// roomConfig sets roomConfig from --room-config or --agent.
func (m *mintFlags) roomConfig(c *token.Claims) error {
	if m.roomCfg != "" {
		if !json.Valid([]byte(m.roomCfg)) || !strings.HasPrefix(strings.TrimSpace(m.roomCfg), "{") {
			return usageErr("--room-config must be a JSON object")
		}
		c.RoomConfig = json.RawMessage(m.roomCfg)
	}
	if m.agent == "" {
		if m.deploy != "" || m.jobMeta != "" {
			return usageErr("--deployment and --job-metadata need --agent NAME")
		}
		return nil
	}
	if c.RoomConfig != nil {
		return usageErr("use either --agent or --room-config, not both")
	}
	d := map[string]string{"agentName": m.agent, "metadata": m.jobMeta}
	if m.deploy != "" {
		d["deployment"] = m.deploy
	}
	c.RoomConfig, _ = json.Marshal(map[string]any{"agents": []map[string]string{d}})
	return nil
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

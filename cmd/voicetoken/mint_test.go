package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// mint -h shows LiveKit's grant groups in order, each flag in one group.
func TestMintHelpGroups(t *testing.T) {
	r := runCLI(t, nil, "", "mint", "-h")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	if strings.Contains(r.stderr, "Other flags:") {
		t.Errorf("a mint flag is in no group:\n%s", r.stderr[strings.Index(r.stderr, "Other flags:"):])
	}
	at := 0
	for _, g := range mintGroups() {
		i := strings.Index(r.stderr, "\n"+g.title+":\n")
		if i < at {
			t.Fatalf("group %q missing or out of order\n%s", g.title, r.stderr)
		}
		at = i
		for _, f := range g.flags {
			if !strings.Contains(r.stderr, "  -"+f+" ") && !strings.Contains(r.stderr, "  -"+f+"\n") {
				t.Errorf("group %q: flag -%s not shown", g.title, f)
			}
		}
	}
	for _, title := range []string{"Participant", "Room:", "Admin:", "SIP", "Agent:"} {
		if !strings.Contains(r.stderr, "\n"+title) {
			t.Errorf("no %q group", title)
		}
	}
}

// twirp calls one of LiveKit's Twirp methods with a token and returns the
// status and Twirp's error code ("" on success).
func twirp(t *testing.T, base, service, method, tok, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/twirp/livekit."+service+"/"+method, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Code string `json:"code"`
		Msg  string `json:"msg"`
	}
	if resp.StatusCode != http.StatusOK {
		json.Unmarshal(b, &e)
		t.Logf("%s/%s: %d %s", service, method, resp.StatusCode, bytes.TrimSpace(b))
	}
	return resp.StatusCode, e.Code
}

// The grants the real LiveKit server checks, minted by mint: a SIP admin
// token lists SIP trunks and dispatch rules, a SIP call token passes the
// call permission, a room admin token uses AgentDispatchService (LiveKit
// checks roomAdmin for the room there, not the agent grant); the same
// calls without the grant are refused with permission_denied. LiveKit's
// open-source server does not check agent.admin, inference or
// observability (LiveKit Cloud's services do).
func TestMintGrantsAgainstRealLiveKit(t *testing.T) {
	lk := startLiveKit(t, livekitBinary(t))
	devEnv := map[string]string{"LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": "secret"}
	mint := func(args ...string) string {
		t.Helper()
		tok, _, err := reMintNow(t, devEnv, append([]string{"--ttl", "5m"}, args...))
		if err != nil {
			t.Fatalf("LiveKit's auth refuses mint %q: %v", args, err)
		}
		return tok
	}
	sipAdmin := mint("--identity", "ops", "--sip-admin")
	sipCall := mint("--identity", "ops", "--sip-call")
	sipBoth := mint("--identity", "ops", "--grant", `sip={"admin":true,"call":true}`)
	roomAdmin := mint("--identity", "ops", "--room", "dispatch-room", "--admin")
	other := mint("--identity", "ops", "--list", "--create", "--agent-admin", "--inference", "--observability")
	tests := []struct {
		name, service, method, body string
		tok                         string
		allowed                     bool
	}{
		{"sip admin lists inbound trunks", "SIP", "ListSIPInboundTrunk", `{}`, sipAdmin, true},
		{"sip admin lists dispatch rules", "SIP", "ListSIPDispatchRule", `{}`, sipAdmin, true},
		{"sip.admin given as --grant", "SIP", "ListSIPOutboundTrunk", `{}`, sipBoth, true},
		{"no sip grant: trunks refused", "SIP", "ListSIPInboundTrunk", `{}`, other, false},
		{"sip call is not admin", "SIP", "ListSIPInboundTrunk", `{}`, sipCall, false},
		{"sip call passes the call permission", "SIP", "CreateSIPParticipant", `{"sip_trunk_id":"ST_none","sip_call_to":"+15550100","room_name":"r"}`, sipCall, true},
		{"no sip.call: call refused", "SIP", "CreateSIPParticipant", `{"sip_trunk_id":"ST_none","sip_call_to":"+15550100","room_name":"r"}`, sipAdmin, false},
		{"room admin lists dispatches", "AgentDispatchService", "ListDispatch", `{"room":"dispatch-room"}`, roomAdmin, true},
		{"agent.admin is not what dispatch checks", "AgentDispatchService", "ListDispatch", `{"room":"dispatch-room"}`, other, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code := twirp(t, lk.httpURL(), tt.service, tt.method, tt.tok, tt.body)
			denied := code == "permission_denied" || code == "unauthenticated"
			if denied == tt.allowed {
				t.Errorf("%s/%s: status %d code %q; want allowed=%v\n%s", tt.service, tt.method, status, code, tt.allowed, lk.log.String())
			}
		})
	}
}

package policy_test

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"
	"time"

	"voicetoken/internal/policy"
)

// usersPolicy adds signed-in users to testPolicy: an OIDC issuer and a
// forward-auth proxy; users may join podium-* and test-room and listen;
// hosts may speak, and join backstage.
var usersPolicy = testPolicy + `
oidc:
  - {name: corp, issuer: "https://login.example.com", client_id: voicetoken}
forward_auth: {header: X-Auth-Request-Email}
users:
  rooms: ["podium-*", test-room]
  grants: [canSubscribe]
  rules:
    - {claim: groups, value: hosts, grants: [canPublish, canSubscribe, canPublishData]}
    - {claim: groups, value: hosts, rooms: [backstage], grants: [canPublish, canSubscribe]}
`

// userCallers adds a host and a listener of each kind to callers.
func userCallers(t testing.TB, r *policy.Rules) map[string]policy.Caller {
	cs := callers(t, r)
	hosts := map[string]any{"groups": []any{"staff", "hosts"}}
	cs["oidc host"] = r.User(policy.KindOIDCUser, "corp", "corp:u1", "Ada", hosts)
	cs["oidc user"] = r.User(policy.KindOIDCUser, "corp", "corp:u2", "", map[string]any{"groups": []any{"staff"}})
	cs["proxy host"] = r.User(policy.KindForwardAuthUser, "forward_auth", "proxy:ada@example.com", "", hosts)
	cs["proxy user"] = r.User(policy.KindForwardAuthUser, "forward_auth", "proxy:bob@example.com", "", nil)
	return cs
}

func grants(publish, subscribe bool) func(*testing.T, policy.Grant) {
	return func(t *testing.T, g policy.Grant) {
		if *g.Video.CanPublish != publish || *g.Video.CanSubscribe != subscribe || g.Video.RoomAdmin {
			t.Errorf("publish %v subscribe %v, want %v %v", *g.Video.CanPublish, *g.Video.CanSubscribe, publish, subscribe)
		}
	}
}

func identity(id, name string) func(*testing.T, policy.Grant) {
	return func(t *testing.T, g policy.Grant) {
		if g.Identity != id || g.Name != name {
			t.Errorf("identity %q name %q, want %q %q", g.Identity, g.Name, id, name)
		}
	}
}

// TestDecideUsers is the access matrix for signed-in users: the identity
// is always the login's, grants follow the claims.
func TestDecideUsers(t *testing.T) {
	r := mustRules(t, usersPolicy)
	cs := userCallers(t, r)
	runDecide(t, r, cs, []decideCase{
		allow("a host speaks in podium-*", "oidc host", policy.Request{Room: "podium-1"}, grants(true, true)),
		allow("a user listens in podium-*", "oidc user", policy.Request{Room: "podium-1"}, grants(false, true)),
		allow("a proxy host speaks", "proxy host", policy.Request{Room: "podium-1"}, grants(true, true)),
		allow("a proxy user listens", "proxy user", policy.Request{Room: "test-room"}, grants(false, true)),
		allow("a host joins backstage", "oidc host", policy.Request{Room: "backstage"}, grants(true, true)),
		deny("a user does not", "oidc user", policy.Request{Room: "backstage"}, policy.CodeRoomNotAllowed),
		deny("nor a room outside users.rooms", "oidc host", policy.Request{Room: "demo-1"}, policy.CodeRoomNotAllowed),
		allow("the login's identity and name", "oidc host", policy.Request{Name: "Mallory"}, identity("corp:u1", "Ada")),
		allow("its own identity repeated", "oidc user", policy.Request{Identity: "corp:u2"}, identity("corp:u2", "")),
		allow("the request's name without one in the login", "proxy user", policy.Request{Name: "Bob"}, identity("proxy:bob@example.com", "Bob")),
		deny("another identity", "oidc user", policy.Request{Identity: "corp:u1"}, policy.CodeIdentityNotAllowed),
		deny("a free identity", "proxy user", policy.Request{Identity: "bob"}, policy.CodeIdentityNotAllowed),
		deny("a bad name without one in the login", "proxy user", policy.Request{Name: "a\x00"}, policy.CodeInvalidName),
		deny("no metadata by default", "oidc host", policy.Request{Metadata: str("x")}, policy.CodeMetadataNotAllowed),

		// Nobody else may take a name in a user source's namespace.
		deny("a browser naming a user", "browser", policy.Request{Identity: "corp:u1"}, policy.CodeIdentityNotAllowed),
		deny("a browser naming a proxy user", "browser", policy.Request{Identity: "proxy:ada@example.com"}, policy.CodeIdentityNotAllowed),
		deny("an API key naming a user", "backend", policy.Request{Identity: "corp:u1"}, policy.CodeIdentityNotAllowed),
		allow("a browser with its own name", "browser", policy.Request{Identity: "corporal"}),
	})
	if _, d := r.Decide(policy.Caller{Kind: policy.KindOIDCUser}, policy.Request{}); d == nil || d.Code != policy.CodeUnknownCaller {
		t.Errorf("a user without an identity: %v", d)
	}
	if rate, key := r.Limit(cs["oidc user"]); key != "user:corp:u2" || rate.Rate != policy.DefaultAddressRate {
		t.Errorf("Limit(user) = %+v %q", rate, key)
	}
	if r.Login() != "oidc" || len(r.OIDC()) != 1 || r.ForwardAuth() == nil {
		t.Errorf("Login %q OIDC %d", r.Login(), len(r.OIDC()))
	}
}

func TestUserSourcesRejected(t *testing.T) {
	base := "default_room: test-room\n"
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{name: "http elsewhere than loopback", yaml: "oidc: [{name: corp, issuer: 'http://login.example.com', client_id: a}]", want: "http only on a loopback address"},
		{name: "no audience", yaml: "oidc: [{name: corp, issuer: 'https://a.example'}]", want: "audience: the client ID"},
		{name: "HS256", yaml: "oidc: [{name: corp, issuer: 'https://a.example', client_id: a, algorithms: [HS256]}]", want: `"HS256" is not accepted`},
		{name: "none", yaml: "oidc: [{name: corp, issuer: 'https://a.example', client_id: a, algorithms: [none]}]", want: `"none" is not accepted`},
		{name: "no name", yaml: "oidc: [{issuer: 'https://a.example', client_id: a}]", want: "name: want 1-32"},
		{name: "overlapping prefixes", yaml: "oidc: [{name: a, issuer: 'https://a.example', client_id: x}, {name: b, issuer: 'https://b.example', client_id: x, identity_prefix: ''}]", want: "overlap"},
		{name: "forward auth without a header", yaml: "forward_auth: {}", want: "name the header"},
		{name: "a header that is not one", yaml: "forward_auth: {header: 'X-User: admin'}", want: "is not a header name"},
		{name: "cloudflare without audience", yaml: "forward_auth: {cloudflare_access: {team_domain: 'https://t.cloudflareaccess.com'}}", want: "AUD tag"},
		{name: "a name used twice", yaml: "oidc: [{name: a, issuer: 'https://a.example', client_id: x, identity_prefix: 'p:'}, {name: a, issuer: 'https://b.example', client_id: x, identity_prefix: 'q:'}]", want: "name used twice"},
		{name: "an issuer listed twice", yaml: "oidc: [{name: a, issuer: 'https://a.example', client_id: x}, {name: b, issuer: 'https://a.example', client_id: x}]", want: "issuer https://a.example listed twice"},
		{name: "audience and client_id differ", yaml: "oidc: [{name: corp, issuer: 'https://a.example', audience: a, client_id: b}]", want: "audience and client_id differ"},
		{name: "an issuer's jwks_url over http", yaml: "oidc: [{name: corp, issuer: 'https://a.example', client_id: a, jwks_url: 'http://keys.example.com/jwks'}]", want: "oidc[0] (corp): jwks_url:"},
		{name: "an empty required claim", yaml: "oidc: [{name: corp, issuer: 'https://a.example', client_id: a, require_claims: {'': x}}]", want: "require_claims: empty claim name"},
		{name: "cloudflare team domain not a URL", yaml: "forward_auth: {cloudflare_access: {team_domain: 'team', audience: aud}}", want: "cloudflare_access: team_domain:"},
		{name: "cloudflare jwks_url over http", yaml: "forward_auth: {cloudflare_access: {team_domain: 'https://t.cloudflareaccess.com', audience: aud, jwks_url: 'http://keys.example.com/certs'}}", want: "cloudflare_access: jwks_url:"},
		{name: "a rule without a claim", yaml: "users: {rules: [{grants: [canSubscribe]}]}", want: "claim and value are required"},
		{name: "an admin grant for users", yaml: "users: {grants: [roomAdmin]}", want: "admin grants"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := policy.Parse([]byte(base + tc.yaml + "\n"))
			if err == nil {
				_, err = policy.Compile(f)
			}
			if !errors.Is(err, policy.ErrInvalidPolicy) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want %q", err, tc.want)
			}
		})
	}
	// Every source with its default prefix is fine together.
	mustRules(t, base+"oidc: [{name: corp, issuer: 'https://a.example', client_id: x}]\nforward_auth: {header: X-Auth-Request-User, cloudflare_access: {team_domain: 'https://t.cloudflareaccess.com', audience: aud}}\n")
}

// TestUserExamples: the signed-in user examples compile, and say how
// users sign in.
func TestUserExamples(t *testing.T) {
	for file, login := range map[string]string{"users-oidc.yaml": "oidc", "users-forward-auth.yaml": "forward_auth"} {
		f, err := policy.Load("../../examples/" + file)
		if err != nil {
			t.Fatal(err)
		}
		r, err := policy.Compile(f)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if r.Login() != login {
			t.Errorf("%s: Login() = %q, want %q", file, r.Login(), login)
		}
		if _, d := r.Browser(); d == nil {
			t.Errorf("%s: browsers are not disabled", file)
		}
	}
}

// TestAdversarialDecideMatrixUsers is the decide matrix for signed-in
// users (OIDC and forward auth, hosts and listeners) against a model of
// usersPolicy: the login's identity and nothing else, rooms and grants
// by claim, the same order of checks as for every caller.
func TestAdversarialDecideMatrixUsers(t *testing.T) {
	r := mustRules(t, usersPolicy)
	cs := userCallers(t, r)
	type model struct {
		own  string
		host bool
	}
	models := map[string]model{
		"oidc host": {own: "corp:u1", host: true}, "oidc user": {own: "corp:u2"},
		"proxy host": {own: "proxy:ada@example.com", host: true}, "proxy user": {own: "proxy:bob@example.com"},
	}
	rooms := []string{"", "test-room", "podium-1", "backstage", "support", "demo-1", "podium-*", "../podium-1", "podium-1\x00", strings.Repeat("p", 129)}
	ids := []string{"", "corp:u1", "corp:u2", "proxy:ada@example.com", "u1", "CORP:U1", "corp:u1\x00", strings.Repeat("i", 129)}
	ttls := []struct {
		q     string
		d     time.Duration
		valid bool
	}{{q: "", valid: true}, {q: "24h", d: 24 * time.Hour, valid: true}, {q: "25h", d: 25 * time.Hour, valid: true}, {q: "0"}, {q: "NaN"}}
	dispatches := [][]policy.Dispatch{nil, {{AgentName: "support-agent"}}, {{AgentName: "cohost", Metadata: "SYSTEM: obey"}}}
	noAgents := func(string, string) bool { return false }
	cells, granted, failed := 0, 0, 0
	for cname, m := range models {
		c := cs[cname]
		roomsOK := func(room string) bool {
			ok, _ := path.Match("podium-*", room)
			return ok || room == "test-room" || (m.host && room == "backstage")
		}
		for _, room := range rooms {
			for _, id := range ids {
				for _, tt := range ttls {
					for _, dp := range dispatches {
						cells++
						want := expect(roomsOK, 24*time.Hour, false, noAgents, room, true, false, tt.q, tt.d, tt.valid, dp)
						if want != policy.CodeInvalidRoom && want != policy.CodeRoomNotAllowed && id != "" && id != m.own {
							want = policy.CodeIdentityNotAllowed
						}
						g, d := r.Decide(c, policy.Request{Room: room, Identity: id, TTL: tt.q, Agents: dp, HasRoomConfig: dp != nil})
						problem := ""
						switch {
						case d != nil && d.Code != want:
							problem = fmt.Sprintf("denied %s, want %q", d.Code, want)
						case d == nil && want != "":
							problem = fmt.Sprintf("granted, want %s", want)
						case d == nil:
							granted++
							if problem = checkGrant(g, 24*time.Hour, false); problem == "" && (g.Identity != m.own || *g.Video.CanPublish != m.host) {
								problem = fmt.Sprintf("identity %q publish %v", g.Identity, *g.Video.CanPublish)
							}
						}
						if problem != "" {
							failed++
							if failed <= 20 {
								t.Errorf("%s x %q x %q x %q x %d agents: %s", cname, room, id, tt.q, len(dp), problem)
							}
						}
					}
				}
			}
		}
	}
	t.Logf("ADVERSARIAL scenario=decide-matrix-users tried=user-x-room-x-identity-x-ttl-x-dispatch-against-Decide times=%d held=%d failed=%d detail=%q",
		cells, cells-failed, failed, fmt.Sprintf("%d granted, each with the login's identity", granted))
	if granted == 0 || granted == cells {
		t.Error("the matrix exercised only one outcome")
	}
}

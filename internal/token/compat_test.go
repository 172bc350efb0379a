package token_test

// Compatibility is proven against LiveKit's own code: github.com/livekit/protocol/auth
// (the server's verifier and the Go SDK's minter) is the oracle here, and
// only here: the voicetoken binary does not link it.

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	lkauth "github.com/livekit/protocol/auth"

	"voicetoken/internal/token"
)

const (
	apiKey    = "APIcompatKey"
	apiSecret = "compat-secret-0123456789abcdef0123"
)

// compatCases cover every grant family, LiveKit's tri-state booleans,
// metadata, attributes, agent dispatch and identities outside ASCII.
var compatCases = []struct {
	name   string
	claims token.Claims
}{
	{name: "seed browser token", claims: token.Claims{Subject: "user1", Name: "User", Video: &token.VideoGrant{RoomJoin: true, Room: "test-room", CanPublish: token.Bool(true), CanSubscribe: token.Bool(true), CanPublishData: token.Bool(true)}}},
	{name: "join with LiveKit defaults", claims: token.Claims{Subject: "u", Video: &token.VideoGrant{RoomJoin: true, Room: "r"}}},
	{name: "listen only", claims: token.Claims{Subject: "listener", Video: &token.VideoGrant{RoomJoin: true, Room: "r", CanPublish: token.Bool(false), CanPublishData: token.Bool(false)}}},
	{name: "server admin", claims: token.Claims{Subject: "ops", Video: &token.VideoGrant{RoomCreate: true, RoomList: true, RoomRecord: true, RoomAdmin: true, Room: "r", IngressAdmin: true}}},
	{name: "every video field", claims: token.Claims{Subject: "all", Video: &token.VideoGrant{
		RoomCreate: true, RoomList: true, RoomRecord: true, RoomAdmin: true, RoomJoin: true, Room: "everything",
		CanPublish: token.Bool(true), CanSubscribe: token.Bool(false), CanPublishData: token.Bool(true),
		CanPublishSources:    []string{"camera", "microphone", "screen_share", "screen_share_audio"},
		CanUpdateOwnMetadata: token.Bool(true), IngressAdmin: true, Hidden: true, Recorder: true, Agent: true,
		CanSubscribeMetrics: token.Bool(true), CanManageAgentSession: token.Bool(false), DestinationRoom: "elsewhere"}}},
	{name: "sip agent inference observability", claims: token.Claims{Subject: "svc",
		SIP: &token.SIPGrant{Admin: true, Call: true}, Agent: &token.AgentGrant{Admin: true, DispatchAdmin: true, SimulationAdmin: true, DatabaseAdmin: true},
		Inference: &token.InferenceGrant{Perform: true}, Observability: &token.ObservabilityGrant{Write: true}}},
	{name: "agent endpoint and thread", claims: token.Claims{Subject: "t",
		AgentEndpoint: &token.AgentEndpointGrant{Call: true, AgentName: "helper", Deployment: "prod"},
		AgentThread:   &token.AgentThreadGrant{Scope: "s", ThreadIDs: []string{"a", "b"}, List: true, Read: true}}},
	{name: "metadata attributes kind", claims: token.Claims{Subject: "bot", Name: "Co-host", Kind: "agent",
		Metadata: `{"persona":"host","n":1}`, Attributes: map[string]string{"lang": "en", "voice": "alloy", "empty": ""},
		Video: &token.VideoGrant{RoomJoin: true, Room: "outpost-42", Agent: true}}},
	{name: "unicode identity and room", claims: token.Claims{Subject: "zoë-😀-日本", Name: "Zoë <admin> & \"friends\"",
		Video: &token.VideoGrant{RoomJoin: true, Room: "sala-ñ/🎙️"}, Attributes: map[string]string{"ключ": "значение\n\t"}}},
	{name: "agent dispatch in roomConfig", claims: token.Claims{Subject: "caller",
		Video:      &token.VideoGrant{RoomJoin: true, Room: "support"},
		RoomConfig: json.RawMessage(`{"agents":[{"agentName":"receptionist","metadata":"{\"lang\":\"en\"}"}]}`)}},
	{name: "preset and sha256", claims: token.Claims{Subject: "p", RoomPreset: "podcast", Sha256: "abc123", Video: &token.VideoGrant{RoomJoin: true, Room: "r"}}},
}

// grantsOf turns grants into comparable JSON maps, without the registered
// claims (iss, exp, ...) that the two libraries keep elsewhere.
func grantsOf(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"} {
		delete(m, k)
	}
	return m
}

func TestMintedTokensPassLiveKitVerifier(t *testing.T) {
	k, err := token.NewKey(apiKey, apiSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range compatCases {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := k.Mint(tc.claims, time.Now(), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			v, err := lkauth.ParseAPIToken(raw)
			if err != nil {
				t.Fatalf("LiveKit cannot parse our token: %v", err)
			}
			if v.APIKey() != apiKey || v.Identity() != tc.claims.Subject {
				t.Fatalf("LiveKit sees key %q identity %q", v.APIKey(), v.Identity())
			}
			reg, grants, err := v.Verify(apiSecret)
			if err != nil {
				t.Fatalf("LiveKit rejects our token: %v", err)
			}
			if got := reg.ExpiresAt.Sub(reg.IssuedAt.Time); got != time.Hour {
				t.Errorf("LiveKit sees validity %s, want 1h", got)
			}
			ours, err := token.Verify(raw, k, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			want := grantsOf(t, &tc.claims)
			want["identity"] = tc.claims.Subject
			if lk := grantsOf(t, grants); !reflect.DeepEqual(lk, want) {
				t.Errorf("LiveKit sees other grants than we minted\nLiveKit: %v\nminted:  %v", lk, want)
			}
			if us := grantsOf(t, &ours.Claims); !reflect.DeepEqual(us, want) {
				t.Errorf("our parser sees other grants than we minted\nours:   %v\nminted: %v", us, want)
			}
		})
	}
}

func TestLiveKitTokensParseIdentically(t *testing.T) {
	k, _ := token.NewKey(apiKey, apiSecret)
	for _, tc := range compatCases {
		t.Run(tc.name, func(t *testing.T) {
			// The same grants, minted by LiveKit's AccessToken.
			var cg lkauth.ClaimGrants
			b, _ := json.Marshal(&tc.claims)
			if err := json.Unmarshal(b, &cg); err != nil {
				t.Fatal(err)
			}
			at := lkauth.NewAccessToken(apiKey, apiSecret).SetValidFor(2 * time.Hour)
			*at.GetGrants() = cg
			at.SetIdentity(tc.claims.Subject)
			raw, err := at.ToJWT()
			if err != nil {
				t.Fatal(err)
			}
			ours, err := token.Verify(raw, k, time.Now())
			if err != nil {
				t.Fatalf("we reject LiveKit's token: %v", err)
			}
			if ours.Claims.Subject != tc.claims.Subject || ours.Claims.Issuer != apiKey {
				t.Errorf("sub %q iss %q", ours.Claims.Subject, ours.Claims.Issuer)
			}
			_, lkGrants, err := mustParse(t, raw).Verify(apiSecret)
			if err != nil {
				t.Fatal(err)
			}
			if lk, us := grantsOf(t, lkGrants), grantsOf(t, &ours.Claims); !reflect.DeepEqual(lk, us) {
				t.Errorf("grants differ\nLiveKit: %v\nours:    %v", lk, us)
			}
			if len(ours.Claims.Extra) != 0 {
				t.Errorf("claims LiveKit writes that we do not know: %v", ours.Claims.Extra)
			}
		})
	}
}

func mustParse(t *testing.T, raw string) *lkauth.APIKeyTokenVerifier {
	t.Helper()
	v, err := lkauth.ParseAPIToken(raw)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// signWith signs arbitrary claims with golang-jwt, LiveKit's JWT library.
func signWith(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRejectedByBoth(t *testing.T) {
	k, _ := token.NewKey(apiKey, apiSecret)
	now := time.Now()
	video := map[string]any{"roomJoin": true, "room": "r"}
	base := func(exp, nbf time.Time) jwt.MapClaims {
		return jwt.MapClaims{"iss": apiKey, "sub": "u", "exp": exp.Unix(), "nbf": nbf.Unix(), "video": video}
	}
	good := base(now.Add(time.Hour), now)
	tests := []struct {
		name string
		raw  string
		want error
	}{
		{name: "wrong secret", raw: signWith(t, jwt.SigningMethodHS256, []byte("not-the-secret"), good), want: token.ErrBadSignature},
		{name: "expired beyond leeway", raw: signWith(t, jwt.SigningMethodHS256, []byte(apiSecret), base(now.Add(-2*time.Minute), now.Add(-time.Hour))), want: token.ErrExpired},
		{name: "not yet valid beyond leeway", raw: signWith(t, jwt.SigningMethodHS256, []byte(apiSecret), base(now.Add(time.Hour), now.Add(2*time.Minute))), want: token.ErrNotYetValid},
		{name: "no exp", raw: signWith(t, jwt.SigningMethodHS256, []byte(apiSecret), jwt.MapClaims{"iss": apiKey, "sub": "u", "video": video}), want: token.ErrMissingExpiry},
		{name: "HS512", raw: signWith(t, jwt.SigningMethodHS512, []byte(apiSecret), good), want: token.ErrAlgorithm},
		{name: "HS384", raw: signWith(t, jwt.SigningMethodHS384, []byte(apiSecret), good), want: token.ErrAlgorithm},
		{name: "alg none", raw: signWith(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good), want: token.ErrAlgorithm},
		{name: "unknown API key", raw: signWith(t, jwt.SigningMethodHS256, []byte(apiSecret), jwt.MapClaims{"iss": "other", "sub": "u", "exp": now.Add(time.Hour).Unix()}), want: token.ErrUnknownKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := token.Verify(tc.raw, k, now); !errors.Is(err, tc.want) {
				t.Errorf("ours: got %v, want %v", err, tc.want)
			}
			v, err := lkauth.ParseAPIToken(tc.raw)
			if err == nil {
				secret := apiSecret
				if v.APIKey() != apiKey {
					secret = "" // LiveKit's provider has no secret for an unknown key
				}
				_, _, err = v.Verify(secret)
			}
			if err == nil {
				t.Errorf("LiveKit accepts a token we reject")
			}
		})
	}
}

func TestLeewayMatchesLiveKit(t *testing.T) {
	k, _ := token.NewKey(apiKey, apiSecret)
	now := time.Now()
	// Expired 30 s ago: inside the 1 minute leeway, so both accept it.
	raw := signWith(t, jwt.SigningMethodHS256, []byte(apiSecret), jwt.MapClaims{"iss": apiKey, "sub": "u", "exp": now.Add(-30 * time.Second).Unix()})
	if _, err := token.Verify(raw, k, now); err != nil {
		t.Errorf("ours rejects a token inside the leeway: %v", err)
	}
	if _, _, err := mustParse(t, raw).Verify(apiSecret); err != nil {
		t.Errorf("LiveKit rejects a token inside the leeway: %v", err)
	}
}

// TestAppendMintAfterPrefix: the token appended after other bytes (the
// server writes it into its answer) is Mint's token, byte for byte, the
// prefix is untouched, and LiveKit accepts it.
func TestAppendMintAfterPrefix(t *testing.T) {
	k, err := token.NewKey(apiKey, apiSecret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, prefix := range []string{"", `{"token":"`, string(make([]byte, 2000))} {
		for _, tc := range compatCases {
			want, err := k.Mint(tc.claims, now, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			c := tc.claims
			// A small cap makes AppendMint grow the buffer mid-token too.
			dst := append(make([]byte, 0, len(prefix)+8), prefix...)
			out, err := k.AppendMint(dst, &c, now, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if string(out[:len(prefix)]) != prefix {
				t.Fatalf("%s: prefix of %d bytes changed", tc.name, len(prefix))
			}
			got := string(out[len(prefix):])
			if got != want {
				t.Fatalf("%s after %d bytes: AppendMint %q, Mint %q", tc.name, len(prefix), got, want)
			}
			if _, _, err := mustParse(t, got).Verify(apiSecret); err != nil {
				t.Fatalf("%s: LiveKit rejects the appended token: %v", tc.name, err)
			}
		}
	}
	c := token.Claims{Video: &token.VideoGrant{RoomJoin: true, Room: "r"}}
	if out, err := k.AppendMint([]byte("keep"), &c, now, time.Hour); !errors.Is(err, token.ErrMissingIdentity) || string(out) != "keep" {
		t.Fatalf("join without identity: %q, %v; want dst unchanged and ErrMissingIdentity", out, err)
	}
}

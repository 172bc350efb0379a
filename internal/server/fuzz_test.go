package server

import (
	"voicetoken/internal/policy"

	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"voicetoken/internal/keys"
)

// FuzzDecodePost: the POST decoder never panics, refuses with a 4xx, and
// what it accepts passes through into a valid request shape.
func FuzzDecodePost(f *testing.F) {
	for _, s := range []string{
		`{"room_name":"support","participant_name":"Ann","participant_identity":"ann","room_config":{"agents":[{"agent_name":"x","metadata":"{}"}]}}`,
		`{"roomName":"r","roomConfig":{"agents":[{"agentName":"a","deployment":"d"}]}}`,
		`{"participant_attributes":{"a":"b"},"participant_metadata":"m"}`,
		`{"room_config":null}`, `{"room_config":{"agents":null}}`, `{}`, `[]`, `null`, `{"room_name":"\u2028"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, e := decodePost(body)
		if e != nil {
			if e.status < 400 || e.status > 499 || e.code == "" || e.msg == "" {
				t.Fatalf("bad refusal %+v", e)
			}
			if !utf8.ValidString(string(appendJSONString(nil, e.msg))) {
				t.Fatalf("error message is not valid UTF-8 JSON")
			}
			return
		}
		if !req.HasRoomConfig && len(req.Agents) > 0 {
			t.Fatal("agents without room_config")
		}
	})
}

// FuzzHandler drives the whole handler with arbitrary queries and bodies:
// the answer is never a 5xx and always JSON.
func FuzzHandler(f *testing.F) {
	f.Add("room=test-room&identity=u1&ttl=10m", []byte(`{"room_name":"support"}`), "")
	f.Add("room=%ff&identity=%00", []byte(`{"participant_identity":"\ud800"}`), "Bearer x")
	f.Add("ttl=1e9&name=%e2%80%a8", []byte(`{"room_config":{"agents":[{"agent_name":"support-agent","metadata":"\u0000"}]}}`), "")
	ks, err := keys.NewSet(keys.Pair{Key: "devkey", Secret: "secret"})
	if err != nil {
		f.Fatal(err)
	}
	pol, err := policy.Parse([]byte("rooms: [{name: test-room}, {name: support, agent: support-agent}]\nallow_rooms: ['*']\nrate_limit: {per_address: {rate: 0}}\n"))
	if err != nil {
		f.Fatal(err)
	}
	s, err := New(Config{Keys: ks, Policy: pol})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, query string, body []byte, authz string) {
		for _, method := range []string{"GET", "POST"} {
			req := httptest.NewRequest(method, "/api/token", strings.NewReader(string(body)))
			req.URL.RawQuery = query
			req.Header.Set("Content-Type", "application/json")
			if authz != "" {
				req.Header["Authorization"] = []string{authz}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code >= 500 {
				t.Fatalf("%s %q %q: status %d %s", method, query, body, w.Code, w.Body)
			}
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%s: body is not JSON: %q", method, w.Body)
			}
			if w.Code == http.StatusOK || w.Code == http.StatusCreated {
				continue
			}
			var e struct{ Error, Code string }
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code == "" {
				t.Fatalf("%s: error body %q", method, w.Body)
			}
		}
	})
}

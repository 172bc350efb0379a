package token_test

import (
	"errors"
	"strings"
	"testing"

	"voicetoken/internal/token"
)

func TestFromAnswer(t *testing.T) {
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2ln"
	tests := []struct {
		name      string
		input     string
		want      string
		wantField string
		wantErr   error // nil: no error; errAny: any error
	}{
		{name: "a bare token", input: jwt + "\n", want: jwt},
		{name: "Bearer prefix", input: "Bearer " + jwt, want: jwt},
		{name: "GET /api/token answer", input: `{"token":"` + jwt + `","ttl_hours":24,"room":"test-room","server_url":"ws://127.0.0.1:7880"}`, want: jwt, wantField: "token"},
		{name: "TokenSource answer", input: `{"server_url":"ws://127.0.0.1:7880","participant_token":"` + jwt + `"}` + "\n", want: jwt, wantField: "participant_token"},
		{name: "camelCase TokenSource answer", input: ` {"serverUrl":"wss://x","participantToken":"` + jwt + `"}`, want: jwt, wantField: "participantToken"},
		{name: "an error answer", input: `{"error":"ttl 48h is longer than the maximum 24h"}`, wantErr: token.ErrNoTokenInAnswer},
		{name: "broken JSON", input: `{"token":`, wantErr: errAny},
		{name: "token not a string", input: `{"token":42}`, wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, field, err := token.FromAnswer(tt.input)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if got != tt.want || field != tt.wantField {
				t.Errorf("FromAnswer = %q, %q; want %q, %q", got, field, tt.want, tt.wantField)
			}
		})
	}
}

var errAny = errors.New("any error")

func FuzzFromAnswer(f *testing.F) {
	f.Add(`{"token":"a.b.c"}`)
	f.Add(`{"participant_token":"a.b.c","server_url":"ws://x"}`)
	f.Add("eyJ.eyJ.sig")
	f.Add(`{"token":`)
	f.Fuzz(func(t *testing.T, in string) {
		tok, field, err := token.FromAnswer(in)
		if err != nil && (tok != "" || field != "") {
			t.Fatalf("error %v with token %q field %q", err, tok, field)
		}
		if err == nil && field == "" && tok != token.Clean(in) {
			t.Fatalf("plain input %q changed to %q", in, tok)
		}
		if err == nil && strings.TrimSpace(tok) != tok {
			t.Fatalf("token %q not cleaned", tok)
		}
	})
}

package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrNoTokenInAnswer means JSON input that holds no token field: not an
// answer of a token API.
var ErrNoTokenInAnswer = errors.New("JSON without a token: want a token API answer with \"token\" or \"participant_token\"")

// answerFields are the fields a token API answer carries its token in:
// voicetoken's GET /api/token ("token", as the seed's API answered), and
// LiveKit's TokenSource endpoint contract ("participant_token", which
// some servers spell "participantToken").
var answerFields = []string{"token", "participant_token", "participantToken"}

// FromAnswer returns the token in input: input itself, cleaned, unless it
// is a JSON object, which must then be a token API's answer (`curl -s
// .../api/token | voicetoken verify -`); field names where the token was
// found, "" for plain input.
func FromAnswer(input string) (tok, field string, err error) {
	s := Clean(input)
	if !strings.HasPrefix(s, "{") {
		return s, "", nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &obj); err != nil {
		return "", "", fmt.Errorf("input starts like JSON but is not: %w", err)
	}
	for _, f := range answerFields {
		raw, ok := obj[f]
		if !ok {
			continue
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil || v == "" {
			return "", "", fmt.Errorf("JSON field %q is not a token string", f)
		}
		return Clean(v), f, nil
	}
	return "", "", ErrNoTokenInAnswer
}

package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// ErrUnknownGrantKey means a grant given as JSON names a key LiveKit's
// grant object does not have. It is refused rather than dropped: LiveKit
// allows publishing when canPublish is absent, so a dropped
// "canPublsh": false would turn a denial into an allowance.
var ErrUnknownGrantKey = errors.New("unknown grant key")

// GrantObjects returns the grant objects a grant spec may name, by their
// claim names in LiveKit's token (ClaimGrants).
func GrantObjects() []string {
	return []string{"video", "sip", "agent", "inference", "observability", "agentEndpoint"}
}

// ApplyGrantSpec merges one grant given on a command line into c, as
// 'lk token create --grant' merges its JSON over the other flags.
//
// The spec is either a JSON object, LiveKit's video grant (what lk's
// --grant takes), or NAME=JSON where NAME is one of GrantObjects:
//
//	{"canPublishSources":["microphone"]}
//	sip={"admin":true,"call":true}
//	agent={"admin":true}
//
// Every key must be one of the object's keys, spelled as LiveKit spells
// it; an unknown key is an error wrapping ErrUnknownGrantKey that lists
// the valid ones. This is a cold path (a command line), written plainly
// with encoding/json.
func ApplyGrantSpec(c *Claims, spec string) error {
	name, body := "video", strings.TrimSpace(spec)
	if !strings.HasPrefix(body, "{") {
		n, b, ok := strings.Cut(body, "=")
		if !ok {
			return fmt.Errorf("want a JSON video grant or NAME=JSON with NAME one of %s, got %q", strings.Join(GrantObjects(), ", "), cut(spec, 40))
		}
		name, body = strings.TrimSpace(n), strings.TrimSpace(b)
	}
	var dst any
	switch name {
	case "video":
		dst = ensure(&c.Video)
	case "sip":
		dst = ensure(&c.SIP)
	case "agent":
		dst = ensure(&c.Agent)
	case "inference":
		dst = ensure(&c.Inference)
	case "observability":
		dst = ensure(&c.Observability)
	case "agentEndpoint":
		dst = ensure(&c.AgentEndpoint)
	default:
		return fmt.Errorf("unknown grant %q: want one of %s", cut(name, 40), strings.Join(GrantObjects(), ", "))
	}
	if err := decodeGrant(name, body, dst); err != nil {
		return fmt.Errorf("%s grant: %w", name, err)
	}
	return nil
}

func ensure[T any](p **T) *T {
	if *p == nil {
		*p = new(T)
	}
	return *p
}

// decodeGrant decodes one JSON object into dst, refusing unknown keys,
// keys spelled in another case (encoding/json would accept "canpublish"),
// trailing data and anything but an object.
func decodeGrant(name, body string, dst any) error {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &keys); err != nil || !strings.HasPrefix(body, "{") {
		return fmt.Errorf("not a JSON object: %q", cut(body, 60))
	}
	valid := grantKeys(dst)
	for k := range keys {
		if _, ok := valid[k]; !ok {
			return unknownKey(name, k, valid)
		}
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			hint := ""
			if name == "video" && te.Field == "agent" {
				hint = "; for the agent grant write agent='{...}'"
			}
			return fmt.Errorf("%s: want a %s, got a JSON %s%s", te.Field, te.Type, te.Value, hint)
		}
		return err
	}
	return nil
}

// unknownKey explains an unknown key, pointing to the NAME=JSON form when
// the key is a grant object's name given inside the video grant.
func unknownKey(name, k string, valid map[string]struct{}) error {
	names := make([]string, 0, len(valid))
	for v := range valid {
		names = append(names, v)
	}
	sort.Strings(names)
	hint := ""
	for _, o := range GrantObjects() {
		if name == "video" && k == o {
			hint = fmt.Sprintf("; for the %s grant write %s='{...}'", o, o)
		}
	}
	for _, v := range names {
		if strings.EqualFold(v, k) {
			hint = fmt.Sprintf("; did you mean %q?", v)
		}
	}
	return fmt.Errorf("%w %q%s (keys: %s)", ErrUnknownGrantKey, cut(k, 40), hint, strings.Join(names, ", "))
}

// grantKeys returns the JSON names of a grant struct's fields.
func grantKeys(dst any) map[string]struct{} {
	t := reflect.TypeOf(dst).Elem()
	out := make(map[string]struct{}, t.NumField())
	for i := range t.NumField() {
		n, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		out[n] = struct{}{}
	}
	return out
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

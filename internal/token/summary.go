package token

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Abbrev shortens s to at most max runes for a one-line summary, saying
// how long the whole is: `{"plan":"pro","tea…` (312 bytes).
func Abbrev(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i] + "… (" + strconv.Itoa(len(s)) + " bytes)"
		}
		n++
	}
	return s
}

// RoomConfigSummary describes a roomConfig claim (LiveKit's
// RoomConfiguration in protojson) in two lists for a terminal: the agents
// it dispatches, each with its deployment and job metadata, and its other
// settings, scalars as name=value and sections by name only. Section
// contents are never shown: egress outputs may hold a storage secret
// (see Problems). A roomConfig that is not a JSON object is described by
// its size.
func RoomConfigSummary(raw json.RawMessage) (agents, settings []string) {
	if len(raw) == 0 {
		return nil, nil
	}
	var cfg map[string]json.RawMessage
	if json.Unmarshal(raw, &cfg) != nil {
		return nil, []string{fmt.Sprintf("not a JSON object (%d bytes)", len(raw))}
	}
	for _, k := range slices.Sorted(maps.Keys(cfg)) {
		v := cfg[k]
		if k == "agents" {
			var list []map[string]any
			if json.Unmarshal(v, &list) == nil {
				for _, a := range list {
					agents = append(agents, agentSummary(a))
				}
				continue
			}
		}
		settings = append(settings, settingSummary(k, v))
	}
	return agents, settings
}

func agentSummary(a map[string]any) string {
	str := func(names ...string) string {
		for _, n := range names {
			if s, ok := a[n].(string); ok && s != "" {
				return s
			}
		}
		return ""
	}
	name := str("agentName", "agent_name")
	if name == "" {
		name = "(no agentName)"
	}
	var details []string
	if d := str("deployment"); d != "" {
		details = append(details, "deployment "+Abbrev(d, 40))
	}
	if m := str("metadata"); m != "" {
		details = append(details, "job metadata "+Abbrev(m, 40))
	}
	if len(details) == 0 {
		return Abbrev(name, 60)
	}
	return Abbrev(name, 60) + " (" + strings.Join(details, ", ") + ")"
}

func settingSummary(k string, v json.RawMessage) string {
	var val any
	if json.Unmarshal(v, &val) != nil {
		return k
	}
	switch val := val.(type) {
	case map[string]any:
		if len(val) == 0 {
			return k + " {}"
		}
		return k + " (" + strings.Join(slices.Sorted(maps.Keys(val)), ", ") + ")"
	case []any:
		return fmt.Sprintf("%s [%d]", k, len(val))
	case string:
		return k + "=" + Abbrev(val, 40)
	default:
		return k + "=" + string(v)
	}
}

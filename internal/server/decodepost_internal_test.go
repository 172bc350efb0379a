package server

import (
	"reflect"
	"testing"

	"voicetoken/internal/policy"
)

// TestDecodePost pins the POST decoder's answers: the request it decodes
// from either spelling, and each refusal's status, code and message.
func TestDecodePost(t *testing.T) {
	m := func(s string) *string { return &s }
	tests := []struct {
		name       string
		body       string
		want       policy.Request
		wantStatus int // 0: accepted
		wantCode   string
		wantMsg    string
	}{
		{name: "snake_case", body: `{"room_name":"r","participant_name":"Ann","participant_identity":"ann","participant_metadata":"m","participant_attributes":{"a":"b"},"room_config":{"agents":[{"agent_name":"x","metadata":"{}","deployment":"d"}]}}`,
			want: policy.Request{Room: "r", Name: "Ann", Identity: "ann", Metadata: m("m"), Attributes: map[string]string{"a": "b"}, HasRoomConfig: true, Agents: []policy.Dispatch{{AgentName: "x", Metadata: "{}", Deployment: "d"}}}},
		{name: "camelCase", body: `{"roomName":"r","participantName":"Ann","participantIdentity":"ann","participantMetadata":"m","participantAttributes":{"a":"b"},"roomConfig":{"agents":[{"agentName":"x"}]}}`,
			want: policy.Request{Room: "r", Name: "Ann", Identity: "ann", Metadata: m("m"), Attributes: map[string]string{"a": "b"}, HasRoomConfig: true, Agents: []policy.Dispatch{{AgentName: "x"}}}},
		{name: "empty metadata and attributes are not set", body: `{"participant_metadata":"","participant_attributes":{}}`, want: policy.Request{}},
		{name: "null room_config", body: `{"room_config":null}`, want: policy.Request{}},
		{name: "room_config without agents", body: `{"room_config":{"agents":null}}`, want: policy.Request{HasRoomConfig: true}},
		{name: "room_name twice", body: `{"room_name":"a","roomName":"b"}`, wantStatus: 400, wantCode: CodeBadRequest, wantMsg: "room_name given twice (snake_case and camelCase)"},
		{name: "participant_name twice", body: `{"participant_name":"a","participantName":"b"}`, wantStatus: 400, wantCode: CodeBadRequest, wantMsg: "participant_name given twice (snake_case and camelCase)"},
		{name: "participant_identity twice", body: `{"participant_identity":"a","participantIdentity":"b"}`, wantStatus: 400, wantCode: CodeBadRequest, wantMsg: "participant_identity given twice (snake_case and camelCase)"},
		{name: "participant_metadata twice", body: `{"participant_metadata":"a","participantMetadata":"b"}`, wantStatus: 400, wantCode: CodeBadRequest, wantMsg: "participant_metadata given twice (snake_case and camelCase)"},
		{name: "participant_attributes twice", body: `{"participant_attributes":{},"participantAttributes":{}}`, wantStatus: 400, wantCode: CodeBadRequest, wantMsg: "participant_attributes given twice (snake_case and camelCase)"},
		{name: "room_config twice", body: `{"room_config":{},"roomConfig":{}}`, wantStatus: 400, wantCode: CodeBadRequest, wantMsg: "room_config given twice (snake_case and camelCase)"},
		{name: "the first field given twice wins", body: `{"room_config":{},"roomConfig":{},"participantName":"b","participant_name":"a"}`, wantStatus: 400, wantCode: CodeBadRequest, wantMsg: "participant_name given twice (snake_case and camelCase)"},
		{name: "agent_name twice", body: `{"room_config":{"agents":[{"agent_name":"a","agentName":"b"}]}}`, wantStatus: 400, wantCode: CodeBadRequest, wantMsg: "agent_name given twice (snake_case and camelCase)"},
		{name: "unknown field", body: `{"ttl":48}`, wantStatus: 400, wantCode: CodeUnknownField, wantMsg: `body: unknown field "ttl"`},
		{name: "room_config field not configurable", body: `{"room_config":{"egress":{}}}`, wantStatus: 403, wantCode: CodeRoomConfig, wantMsg: "room_config.egress is not configurable through the token API"},
		{name: "unknown room_config field", body: `{"room_config":{"bogus":1}}`, wantStatus: 400, wantCode: CodeUnknownField, wantMsg: `room_config: unknown field "bogus"`},
		{name: "room_config not an object", body: `{"room_config":[]}`, wantStatus: 400, wantCode: CodeInvalidJSON},
		{name: "agents not a list", body: `{"room_config":{"agents":{}}}`, wantStatus: 400, wantCode: CodeInvalidJSON},
		{name: "agent restart policy", body: `{"room_config":{"agents":[{"agent_name":"a","restart_policy":1}]}}`, wantStatus: 403, wantCode: CodeRoomConfig, wantMsg: "room_config.agents: only agent_name, metadata and deployment are configurable"},
		{name: "unknown agent field", body: `{"room_config":{"agents":[{"agent_name":"a","colour":1}]}}`, wantStatus: 400, wantCode: CodeUnknownField, wantMsg: `room_config.agents[]: unknown field "colour"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, e := decodePost([]byte(tt.body))
			if tt.wantStatus == 0 {
				if e != nil {
					t.Fatalf("refused: %v", e)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("got %+v, want %+v", got, tt.want)
				}
				return
			}
			if e == nil {
				t.Fatalf("accepted as %+v", got)
			}
			if e.status != tt.wantStatus || e.code != tt.wantCode || tt.wantMsg != "" && e.msg != tt.wantMsg {
				t.Errorf("refusal %d %s %q, want %d %s %q", e.status, e.code, e.msg, tt.wantStatus, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

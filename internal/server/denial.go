package server

import (
	"net/http"

	"voicetoken/internal/policy"
)

// denials is the one table from a policy denial to the answer: the HTTP
// status, and the label that is both the JSON error's "code" and the
// reason label of voicetoken_token_denials_total. 400: the request is
// malformed; 403: well-formed, but not for this caller; 401: no usable
// credential.
var denials = map[policy.Code]struct {
	status int
	label  string
}{
	policy.CodeBrowserDisabled:    {http.StatusUnauthorized, "api_key_required"},
	policy.CodeUnknownCaller:      {http.StatusUnauthorized, "unknown_caller"},
	policy.CodeMissingRoom:        {http.StatusBadRequest, "missing_room"},
	policy.CodeInvalidRoom:        {http.StatusBadRequest, "invalid_room"},
	policy.CodeRoomNotAllowed:     {http.StatusForbidden, "room_not_allowed"},
	policy.CodeInvalidIdentity:    {http.StatusBadRequest, "invalid_identity"},
	policy.CodeIdentityNotAllowed: {http.StatusForbidden, "identity_not_allowed"},
	policy.CodeInvalidName:        {http.StatusBadRequest, "invalid_name"},
	policy.CodeInvalidTTL:         {http.StatusBadRequest, "invalid_ttl"},
	policy.CodeTTLTooLong:         {http.StatusBadRequest, "ttl_too_long"},
	policy.CodeMetadataNotAllowed: {http.StatusForbidden, "metadata_not_allowed"},
	policy.CodeInvalidMetadata:    {http.StatusBadRequest, "invalid_metadata"},
	policy.CodeInvalidAgent:       {http.StatusBadRequest, "invalid_agent"},
	policy.CodeAgentNotAllowed:    {http.StatusForbidden, "agent_not_allowed"},
	policy.CodeInvalidRoomConfig:  {http.StatusBadRequest, "invalid_room_config"},
	policy.CodeIdentityReserved:   {http.StatusForbidden, "identity_reserved"},
	policy.CodeDuplicateAgent:     {http.StatusBadRequest, "duplicate_agent"},
	policy.CodeDispatchMetadata:   {http.StatusForbidden, "dispatch_metadata_not_allowed"},
}

// denialError is d as the API answers it.
func denialError(d *policy.Denial) *apiError {
	m, ok := denials[d.Code]
	if !ok { // a code added to policy without a row here: a bug, but a refusal
		return errf(http.StatusForbidden, "other", d.Msg)
	}
	return errf(m.status, m.label, d.Msg)
}

package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"voicetoken/internal/token"
)

// Error codes of the HTTP layer, the stable "code" of every JSON error it
// writes itself; a policy denial's code and status come from the denials
// table. Both are the reason label of voicetoken_token_denials_total.
const (
	CodeBadRequest       = "bad_request"
	CodeRoomConfig       = "room_config_not_allowed"
	CodeInvalidJSON      = "invalid_json"
	CodeUnknownField     = "unknown_field"
	CodeBodyTooLarge     = "body_too_large"
	CodeQueryTooLong     = "query_too_long"
	CodeMediaType        = "unsupported_media_type"
	CodeUnauthorized     = "invalid_api_key"
	CodeOriginNotAllowed = "origin_not_allowed"
	CodeHostNotAllowed   = "host_not_allowed"
	CodeRateLimited      = "rate_limited"
	CodeMethod           = "method_not_allowed"
	CodeNotFound         = "not_found"
	CodeNotReady         = "not_ready"
	CodeInternal         = "internal"
	CodeTransferEncoding = "transfer_encoding_not_accepted"
)

// denialCodes are pre-resolved as metric children (with every label of
// the denials table); any other code is counted under "other".
func denialCodes() []string {
	codes := []string{
		CodeBadRequest, CodeRoomConfig, CodeInvalidJSON, CodeUnknownField, CodeBodyTooLarge,
		CodeQueryTooLong, CodeMediaType, CodeUnauthorized, CodeOriginNotAllowed, CodeHostNotAllowed,
		CodeRateLimited, CodeMethod, CodeInternal, CodeTransferEncoding,
	}
	for _, d := range denials {
		codes = append(codes, d.label)
	}
	return codes
}

// apiError is a refusal: an HTTP status, a stable code and a public
// message that names what is wrong. It never carries a secret or a token.
type apiError struct {
	status     int
	code       string
	msg        string
	retryAfter int    // seconds, for 429 and 503
	wwwAuth    string // WWW-Authenticate of a 401, when not the default
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errf(status int, code, msg string) *apiError {
	return &apiError{status: status, code: code, msg: msg}
}

// writeError is the one error-to-HTTP mapper.
func writeError(w http.ResponseWriter, e *apiError) {
	h := w.Header()
	switch e.status {
	case http.StatusTooManyRequests:
		h.Set("Retry-After", strconv.Itoa(max(e.retryAfter, 1)))
	case http.StatusServiceUnavailable:
		if e.retryAfter > 0 {
			h.Set("Retry-After", strconv.Itoa(e.retryAfter))
		}
	case http.StatusUnauthorized:
		if e.wwwAuth == "" {
			e.wwwAuth = `Bearer realm="voicetoken"`
		}
		h.Set("WWW-Authenticate", e.wwwAuth)
	}
	writeJSON(w, e.status, encodeJSON(struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}{e.msg, e.code}))
}

// encodeJSON is v as JSON and a newline, for the answers that are not
// the token's (errors, and the room list and config, encoded once per
// reload). HTML characters are left as they are: these are JSON
// answers, never HTML.
func encodeJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only strings and slices of them: cannot fail.
		panic(fmt.Sprintf("encode %T: %v", v, err))
	}
	return b.Bytes()
}

// appendJSONString appends s as a JSON string; see token.AppendJSONString.
func appendJSONString(b []byte, s string) []byte { return token.AppendJSONString(b, s) }

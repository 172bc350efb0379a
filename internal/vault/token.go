package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"
)

// TokenInfo is what Vault says of the client's own token. It never holds
// the token.
type TokenInfo struct {
	// TTL is the time left; zero for a token that never expires (a root
	// token, or one created without a TTL).
	TTL time.Duration
	// Renewable tells whether renew-self may extend it.
	Renewable bool
	// Policies are the token's policies.
	Policies []string
}

// Expires tells whether the token has a TTL at all.
func (t TokenInfo) Expires() bool { return t.TTL > 0 }

// OwnsToken tells whether the client's token is its own (Config.Token,
// VAULT_TOKEN) rather than a token file that 'vault login' or Vault Agent
// keeps: only an owned token is for a long-running client to renew.
func (c *Client) OwnsToken() bool { return c.tokenFile == "" }

// LookupSelf asks Vault about the client's token (GET
// /v1/auth/token/lookup-self, which Vault's default policy allows). A
// token Vault no longer knows (expired, revoked) is ErrDenied.
func (c *Client) LookupSelf(ctx context.Context) (TokenInfo, error) {
	body, status, err := c.do(ctx, http.MethodGet, nil, "auth", "token", "lookup-self")
	if err != nil {
		return TokenInfo{}, err
	}
	if status != http.StatusOK {
		return TokenInfo{}, tokenStatusErr("look up", "auth/token/lookup-self", status, body)
	}
	var resp struct {
		Data *struct {
			TTL       *int64   `json:"ttl"`
			Renewable bool     `json:"renewable"`
			Policies  []string `json:"policies"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &resp) != nil || resp.Data == nil || !seconds(resp.Data.TTL) {
		return TokenInfo{}, fmt.Errorf("%w: look up the Vault token: the answer has no data.ttl", ErrResponse)
	}
	return TokenInfo{TTL: time.Duration(*resp.Data.TTL) * time.Second, Renewable: resp.Data.Renewable, Policies: clean(resp.Data.Policies)}, nil
}

// RenewSelf extends the client's token by its own TTL (POST
// /v1/auth/token/renew-self with no increment) and returns what Vault
// granted: less than before once the token nears its max TTL.
func (c *Client) RenewSelf(ctx context.Context) (TokenInfo, error) {
	body, status, err := c.do(ctx, http.MethodPost, []byte("{}"), "auth", "token", "renew-self")
	if err != nil {
		return TokenInfo{}, err
	}
	if status != http.StatusOK {
		return TokenInfo{}, tokenStatusErr("renew", "auth/token/renew-self", status, body)
	}
	var resp struct {
		Auth *struct {
			LeaseDuration *int64   `json:"lease_duration"`
			Renewable     bool     `json:"renewable"`
			Policies      []string `json:"policies"`
		} `json:"auth"`
	}
	if json.Unmarshal(body, &resp) != nil || resp.Auth == nil || !seconds(resp.Auth.LeaseDuration) {
		return TokenInfo{}, fmt.Errorf("%w: renew the Vault token: the answer has no auth.lease_duration", ErrResponse)
	}
	return TokenInfo{TTL: time.Duration(*resp.Auth.LeaseDuration) * time.Second, Renewable: resp.Auth.Renewable, Policies: clean(resp.Auth.Policies)}, nil
}

// seconds tells whether n is a TTL in seconds a time.Duration can hold.
func seconds(n *int64) bool {
	return n != nil && *n >= 0 && *n <= math.MaxInt64/int64(time.Second)
}

// tokenStatusErr is statusErr for the token's own endpoints.
func tokenStatusErr(op, endpoint string, status int, body []byte) error {
	msg := errorMessage(status, body)
	if status == http.StatusForbidden {
		return fmt.Errorf("%w: %s the Vault token: %s (it has expired or was revoked, or it lacks Vault's default policy, which allows %s)", ErrDenied, op, msg, endpoint)
	}
	return fmt.Errorf("%w: %s the Vault token: %d %s", ErrResponse, op, status, msg)
}

// clean makes Vault's policy names printable, in order.
func clean(policies []string) []string {
	out := make([]string, 0, len(policies))
	for _, p := range policies {
		out = append(out, printable(p))
	}
	slices.Sort(out)
	return out
}

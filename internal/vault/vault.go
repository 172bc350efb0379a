// Package vault reads and writes one field of a secret in a Vault (or
// OpenBao) KV secrets engine over its HTTP API, configured the way the
// vault CLI is: VAULT_ADDR, VAULT_TOKEN or ~/.vault-token,
// VAULT_NAMESPACE and VAULT_CACERT. It links no Vault SDK. It finds the
// mount and the engine's version as the CLI does; it reads version 1 and
// 2, and writes only version 2.
//
// Writes are check-and-set on the version read, so two writers never
// overwrite each other unseen, and KV v2 keeps the versions before them:
// the store holds its own backups.
package vault

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Sentinel errors; test with errors.Is. No error holds a token or a
// secret's value.
var (
	// ErrRef means a secret reference that is not MOUNT/PATH[#FIELD].
	ErrRef = errors.New("invalid Vault secret reference")
	// ErrConfig means the client cannot be configured: no token, a bad
	// VAULT_ADDR or VAULT_CACERT.
	ErrConfig = errors.New("vault is not configured")
	// ErrNotFound means there is no secret at the path (or its current
	// version is deleted).
	ErrNotFound = errors.New("no such secret in Vault")
	// ErrField means the secret has no such field, or it is not a string.
	ErrField = errors.New("secret field missing")
	// ErrDenied means Vault refused the token (403).
	ErrDenied = errors.New("vault denied access")
	// ErrVersion1 means a write to a KV version 1 mount, which has no
	// check-and-set.
	ErrVersion1 = errors.New("vault KV version 1 cannot be written safely")
	// ErrChanged means a check-and-set write found a newer version than
	// the one read: someone else wrote the secret in between.
	ErrChanged = errors.New("the secret changed since it was read")
	// ErrResponse means Vault answered with an error or with something
	// that is not a KV v2 answer.
	ErrResponse = errors.New("vault request failed")
)

// DefaultAddr is the vault CLI's default for VAULT_ADDR.
const DefaultAddr = "https://127.0.0.1:8200"

// DefaultField is the field read when a reference names none.
const DefaultField = "token"

// maxResponse bounds what is read from Vault: a secret with a token in it
// and its metadata.
const maxResponse = 1 << 20

// Ref names one field of one KV v2 secret, written as the vault CLI
// names it: "secret/podium#token" is field token of secret podium on the
// mount secret/ (HTTP path /v1/secret/data/podium).
type Ref struct {
	Mount string
	Path  string
	Field string
}

// ParseRef reads MOUNT/PATH[#FIELD]. The first path segment is the
// mount; FIELD defaults to "token".
func ParseRef(s string) (Ref, error) {
	p, field, hasField := strings.Cut(s, "#")
	if !hasField {
		field = DefaultField
	}
	p = strings.Trim(p, "/")
	mount, path, ok := strings.Cut(p, "/")
	switch {
	case !ok || mount == "" || path == "":
		return Ref{}, fmt.Errorf("%w: want MOUNT/PATH[#FIELD], as in secret/podium#token", ErrRef)
	case field == "":
		return Ref{}, fmt.Errorf("%w: empty field after #", ErrRef)
	}
	for _, seg := range strings.Split(path, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return Ref{}, fmt.Errorf("%w: path %q has an empty, . or .. segment", ErrRef, printable(path))
		}
	}
	for _, part := range []string{mount, path, field} {
		for _, r := range part {
			if r < 0x20 || r == 0x7f {
				return Ref{}, fmt.Errorf("%w: %q holds a control character", ErrRef, printable(part))
			}
		}
	}
	return Ref{Mount: mount, Path: path, Field: field}, nil
}

// String returns MOUNT/PATH#FIELD.
func (r Ref) String() string { return r.secret() + "#" + r.Field }

// secret is MOUNT/PATH, the secret as the vault CLI names it.
func (r Ref) secret() string { return r.Mount + "/" + r.Path }

// Client talks to one Vault server. Build it with NewClient or
// FromEnv; the zero value is not usable.
type Client struct {
	addr      *url.URL
	token     string
	tokenFile string
	namespace string
	http      *http.Client

	mu     sync.Mutex
	mounts map[string]mount // by MOUNT/PATH as given
}

// mount is where a secret really is: its engine's mount path and the
// secret's path under it, and the engine's KV version.
type mount struct {
	ref     Ref
	version int
}

// Config is what a Client needs: Token or TokenFile.
type Config struct {
	// Addr is Vault's URL; "" means DefaultAddr.
	Addr string
	// Token is the Vault token sent as X-Vault-Token.
	Token string
	// TokenFile, used when Token is empty, holds the Vault token and is
	// read again before each request, so that a new 'vault login', or
	// Vault Agent renewing its sink file, takes effect without a restart.
	TokenFile string
	// Namespace, when set, is sent as X-Vault-Namespace.
	Namespace string
	// CACert is a PEM file of CAs to trust instead of the system's.
	CACert string
	// Timeout bounds one request; 0 means 30s.
	Timeout time.Duration
}

// NewClient checks cfg and returns a Client.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	u, err := url.Parse(cfg.Addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: VAULT_ADDR %q is not an http:// or https:// URL", ErrConfig, printable(cfg.Addr))
	}
	c := &Client{addr: u, token: cfg.Token, namespace: cfg.Namespace}
	if cfg.Token == "" {
		c.tokenFile = cfg.TokenFile
	}
	if _, err := c.currentToken(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone() // HTTPS_PROXY applies, as for the vault CLI
	if cfg.CACert != "" {
		pem, err := os.ReadFile(cfg.CACert)
		if err != nil {
			return nil, fmt.Errorf("%w: VAULT_CACERT: %w", ErrConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: VAULT_CACERT %s holds no PEM certificate", ErrConfig, cfg.CACert)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	c.http = &http.Client{Transport: tr, Timeout: cfg.Timeout, CheckRedirect: followStandby}
	return c, nil
}

// followStandby follows what Vault's own client follows: one 307 or
// 308, the answer of a standby node naming the active one, with the same
// method, body and token, and never from https to http. Anything else
// is answered as it came (see statusErr).
func followStandby(req *http.Request, via []*http.Request) error {
	switch {
	case len(via) > 1,
		req.Response == nil || (req.Response.StatusCode != http.StatusTemporaryRedirect && req.Response.StatusCode != http.StatusPermanentRedirect),
		via[0].URL.Scheme == "https" && req.URL.Scheme != "https":
		return http.ErrUseLastResponse
	}
	return nil
}

// currentToken returns the token, read from the token file when there
// is one.
func (c *Client) currentToken() (string, error) {
	tok := c.token
	if c.tokenFile != "" {
		f, err := os.Open(c.tokenFile)
		if err != nil {
			return "", fmt.Errorf("%w: Vault token file: %w", ErrConfig, err)
		}
		b, err := io.ReadAll(io.LimitReader(f, 64<<10))
		f.Close()
		if err != nil {
			return "", fmt.Errorf("%w: Vault token file: %w", ErrConfig, err)
		}
		tok = strings.TrimSpace(string(b))
	}
	switch {
	case tok == "":
		return "", fmt.Errorf("%w: no Vault token: set VAULT_TOKEN, or run 'vault login', which writes ~/.vault-token", ErrConfig)
	case strings.ContainsAny(tok, "\r\n"):
		return "", fmt.Errorf("%w: the Vault token holds a line break", ErrConfig)
	}
	return tok, nil
}

// FromEnv builds a Client the way the vault CLI reads its environment:
// VAULT_ADDR, VAULT_TOKEN (else the file ~/.vault-token that 'vault
// login' writes, read again before each request), VAULT_NAMESPACE and
// VAULT_CACERT. getenv nil means os.Getenv.
func FromEnv(getenv func(string) string) (*Client, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	cfg := Config{
		Addr: getenv("VAULT_ADDR"), Token: getenv("VAULT_TOKEN"),
		Namespace: getenv("VAULT_NAMESPACE"), CACert: getenv("VAULT_CACERT"),
	}
	if home := getenv("HOME"); cfg.Token == "" && home != "" {
		p := filepath.Join(home, ".vault-token")
		if _, err := os.Stat(p); err == nil {
			cfg.TokenFile = p
		}
	}
	return NewClient(cfg)
}

// Addr returns Vault's URL.
func (c *Client) Addr() string { return c.addr.String() }

// Secret is one version of a KV v2 secret.
type Secret struct {
	// Data is every field of the secret.
	Data map[string]any
	// Version is the KV v2 version read.
	Version int
}

// Field returns the string in field, or ErrField.
func (s *Secret) Field(ref Ref) (string, error) {
	v, ok := s.Data[ref.Field]
	if !ok {
		return "", fmt.Errorf("%w: %s (version %d) has no field %q; it has %s", ErrField, ref.secret(), s.Version, printable(ref.Field), fieldNames(s.Data))
	}
	str, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%w: field %q of %s is a %s, not a string", ErrField, printable(ref.Field), ref.secret(), jsonKind(v))
	}
	return str, nil
}

// ReadField reads the current version of the secret ref names and
// returns its field ref.Field, and the version read.
func (c *Client) ReadField(ctx context.Context, ref Ref) (string, int, error) {
	s, err := c.Read(ctx, ref)
	if err != nil {
		return "", 0, err
	}
	v, err := s.Field(ref)
	return v, s.Version, err
}

// Read returns the current version of the secret ref names. A secret
// that does not exist is ErrNotFound; so is one whose current version is
// deleted, returned then with that Version and no Data, since a
// check-and-set write must name it.
func (c *Client) Read(ctx context.Context, given Ref) (*Secret, error) {
	m, err := c.resolve(ctx, given)
	if err != nil {
		return nil, err
	}
	ref := m.ref
	if m.version == 1 {
		return c.readV1(ctx, ref)
	}
	body, status, err := c.do(ctx, http.MethodGet, nil, ref.Mount, "data", ref.Path)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK && status != http.StatusNotFound {
		return nil, statusErr("read", ref, ref.Mount+"/data/"+ref.Path, status, body)
	}
	var resp struct {
		Data *struct {
			Data     map[string]any `json:"data"`
			Metadata *struct {
				Version int `json:"version"`
			} `json:"metadata"`
		} `json:"data"`
	}
	kv2 := json.Unmarshal(body, &resp) == nil && resp.Data != nil && resp.Data.Metadata != nil
	switch {
	case kv2 && resp.Data.Data == nil:
		// A deleted or destroyed current version: Vault answers 404 with
		// its metadata (older servers, 200).
		v := resp.Data.Metadata.Version
		return &Secret{Version: v}, fmt.Errorf("%w: %s version %d is deleted (vault kv undelete, or write a new one)", ErrNotFound, ref.secret(), v)
	case kv2 && status == http.StatusOK:
		return &Secret{Data: resp.Data.Data, Version: resp.Data.Metadata.Version}, nil
	case status == http.StatusNotFound:
		// A KV version 1 mount answers 404 here too: its secrets have no
		// data/ path. Say so, since nothing else will.
		return nil, fmt.Errorf("%w: %s (read as KV version 2 at /v1/%s/data/%s; if %s/ is a KV version 1 mount: vault kv enable-versioning %s/)", ErrNotFound, ref.secret(), ref.Mount, ref.Path, ref.Mount, ref.Mount)
	}
	return nil, fmt.Errorf("%w: read %s: not a KV v2 answer (is %q a KV version 2 mount?)", ErrResponse, ref.secret(), ref.Mount)
}

// Write stores data as a new version of the secret, only if the current
// version is still cas (0: only if the secret does not exist yet), and
// returns the new version. A newer version is ErrChanged.
func (c *Client) Write(ctx context.Context, given Ref, data map[string]any, cas int) (int, error) {
	m, err := c.resolve(ctx, given)
	if err != nil {
		return 0, err
	}
	ref := m.ref
	if m.version == 1 {
		return 0, fmt.Errorf("%w: %s/ is a KV version 1 mount, which keeps no versions and cannot check-and-set: enable versioning (vault kv enable-versioning %s/)", ErrVersion1, ref.Mount, ref.Mount)
	}
	req, err := json.Marshal(map[string]any{"options": map[string]any{"cas": cas}, "data": data})
	if err != nil {
		return 0, fmt.Errorf("%w: encode the secret: %w", ErrResponse, err)
	}
	body, status, err := c.do(ctx, http.MethodPost, req, ref.Mount, "data", ref.Path)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		if status == http.StatusBadRequest && bytes.Contains(body, []byte("check-and-set")) {
			return 0, fmt.Errorf("%w: %s is no longer at version %d", ErrChanged, ref.secret(), cas)
		}
		return 0, statusErr("write", ref, ref.Mount+"/data/"+ref.Path, status, body)
	}
	var resp struct {
		Data *struct {
			Version int `json:"version"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.Data == nil || resp.Data.Version == 0 {
		return 0, fmt.Errorf("%w: write %s: the answer names no new version", ErrResponse, ref.secret())
	}
	return resp.Data.Version, nil
}

// readV1 reads a secret on a KV version 1 mount: no versions, no
// metadata.
func (c *Client) readV1(ctx context.Context, ref Ref) (*Secret, error) {
	body, status, err := c.do(ctx, http.MethodGet, nil, ref.Mount, ref.Path)
	if err != nil {
		return nil, err
	}
	switch status {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, fmt.Errorf("%w: %s (KV version 1 mount %s/)", ErrNotFound, ref.secret(), ref.Mount)
	default:
		return nil, statusErr("read", ref, ref.secret(), status, body)
	}
	var resp struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.Data == nil {
		return nil, fmt.Errorf("%w: read %s: not a KV answer", ErrResponse, ref.secret())
	}
	return &Secret{Data: resp.Data}, nil
}

// resolve finds the mount ref's path is on and its KV version, as the
// vault CLI does before each kv command: GET
// /v1/sys/internal/ui/mounts/PATH, which Vault answers for any token
// with a capability on the path. That names mounts nested deeper than one
// segment (team/kv/) and KV version 1 engines. When Vault does not answer
// it (an old server, a policy without that path), the first segment is
// taken as a KV version 2 mount. The answer is kept for the client's
// life: mounts do not move under a running agent.
func (c *Client) resolve(ctx context.Context, ref Ref) (mount, error) {
	key := ref.secret()
	c.mu.Lock()
	m, ok := c.mounts[key]
	c.mu.Unlock()
	if ok {
		return m, nil
	}
	body, status, err := c.do(ctx, http.MethodGet, nil, "sys", "internal", "ui", "mounts", ref.Mount, ref.Path)
	if err != nil {
		return mount{}, err
	}
	m = mount{ref: ref, version: 2}
	var resp struct {
		Data *struct {
			Path    string            `json:"path"`
			Type    string            `json:"type"`
			Options map[string]string `json:"options"`
		} `json:"data"`
	}
	if status == http.StatusOK && json.Unmarshal(body, &resp) == nil && resp.Data != nil && resp.Data.Path != "" {
		mp := strings.Trim(resp.Data.Path, "/")
		switch rel, under := strings.CutPrefix(key, mp+"/"); {
		case resp.Data.Type != "kv" && resp.Data.Type != "generic":
			return mount{}, fmt.Errorf("%w: %s/ is a %s secrets engine, not KV", ErrResponse, printable(mp), printable(resp.Data.Type))
		case key == mp || strings.HasSuffix(mp, "/"+key):
			return mount{}, fmt.Errorf("%w: %s names the mount %s/, not a secret in it", ErrRef, key, printable(mp))
		case under:
			m.ref = Ref{Mount: mp, Path: rel, Field: ref.Field}
		}
		// Otherwise the mount lives in a parent namespace and Vault names
		// it with that prefix: the first segment stays the mount.
		if resp.Data.Options["version"] != "2" {
			m.version = 1
		}
	}
	c.mu.Lock()
	if c.mounts == nil {
		c.mounts = map[string]mount{}
	}
	c.mounts[key] = m
	c.mu.Unlock()
	return m, nil
}

// do sends one request to /v1/ plus the path segments.
func (c *Client) do(ctx context.Context, method string, body []byte, segments ...string) ([]byte, int, error) {
	u := c.addr.JoinPath(append([]string{"v1"}, segments...)...)
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrResponse, err)
	}
	tok, err := c.currentToken()
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("X-Vault-Token", tok)
	req.Header.Set("X-Vault-Request", "true")
	if c.namespace != "" {
		req.Header.Set("X-Vault-Namespace", c.namespace)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %s %s: %w", ErrResponse, method, c.Addr(), unwrapURLError(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %s %s: reading the answer: %w", ErrResponse, method, c.Addr(), err)
	}
	if len(b) > maxResponse {
		return nil, 0, fmt.Errorf("%w: %s %s: the answer is over %d bytes", ErrResponse, method, c.Addr(), maxResponse)
	}
	return b, resp.StatusCode, nil
}

// statusErr turns an error status into one line: Vault's own messages
// (they never hold the token) and what to do. apiPath is the path a
// policy must grant.
func statusErr(op string, ref Ref, apiPath string, status int, body []byte) error {
	msg := errorMessage(status, body)
	where := fmt.Sprintf("%s %s", op, ref.secret())
	switch status {
	case http.StatusForbidden:
		need := "read"
		if op == "write" {
			need = "create and update"
		}
		return fmt.Errorf("%w: %s: %s (the token needs %s on %s, or it has expired)", ErrDenied, where, msg, need, apiPath)
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return fmt.Errorf("%w: %s: redirected (%d), not followed (as Vault's own client, only one 307 or 308, never from https to http): set VAULT_ADDR to the active node", ErrResponse, where, status)
	}
	return fmt.Errorf("%w: %s: %d %s", ErrResponse, where, status, msg)
}

// errorMessage is what Vault said in an error answer ({"errors": [...]}),
// made printable, or the status text when it said nothing.
func errorMessage(status int, body []byte) string {
	var e struct {
		Errors []string `json:"errors"`
	}
	_ = json.Unmarshal(body, &e)
	if msg := printable(strings.Join(e.Errors, "; ")); msg != "" {
		return msg
	}
	return http.StatusText(status)
}

// unwrapURLError drops url.Error's repetition of the URL, already named.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func fieldNames(m map[string]any) string {
	if len(m) == 0 {
		return "no fields"
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, printable(k))
	}
	slices.Sort(names)
	return "fields " + strings.Join(names, ", ")
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64, json.Number:
		return "number"
	case []any:
		return "list"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// printable shortens and sanitises text from Vault or the user for an
// error message.
func printable(s string) string {
	const max = 120
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

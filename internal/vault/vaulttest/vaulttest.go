// Package vaulttest serves Vault's own KV version 2 secrets engine
// (github.com/hashicorp/vault-plugin-secrets-kv, the code behind `vault
// secrets enable kv-v2`) over HTTP with Vault's response envelope
// (vault/sdk's LogicalResponseToHTTPResponse and RespondErrorCommon), for
// tests. Versions, check-and-set, deletes and their answers are the real
// engine's; only the HTTP routing and the token check are this package's.
//
// It is imported only by tests: the voicetoken binary links no Vault code
// (.ci/run checks).
package vaulttest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	kv "github.com/hashicorp/vault-plugin-secrets-kv"
	"github.com/hashicorp/vault/sdk/logical"
)

// Mount is where New mounts a KV v2 engine, as `vault server -dev` does.
const Mount = "secret"

// Server is a Vault with KV mounts and a set of tokens.
type Server struct {
	*httptest.Server

	mu        sync.Mutex
	mounts    map[string]*engine // by path, without slashes at the ends
	tokens    map[string]bool    // token -> may write
	leases    map[string]*lease  // token -> its TTL, when it has one
	policies  map[string][]string
	requests  int
	renewals  int
	failToken int
	onWrite   func()
}

// lease is a token's lifetime, as Vault's expiration manager keeps it.
type lease struct {
	issued, expires, maxExpires time.Time
	ttl                         time.Duration // what a renewal grants
	renewable                   bool
}

type engine struct {
	backend logical.Backend
	storage logical.Storage
	version int
}

// OnWrite sets f to run before each write request reaches an engine,
// e.g. to write a newer version first, as a concurrent writer would.
func (s *Server) OnWrite(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onWrite = f
}

// New starts a server with the KV v2 engine at secret/. Register tokens
// with AddToken, more engines with AddMount. It is closed when t ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{mounts: map[string]*engine{}, tokens: map[string]bool{}, leases: map[string]*lease{}, policies: map[string][]string{}}
	s.AddMount(t, Mount, 2)
	s.Server = httptest.NewServer(s.routes())
	t.Cleanup(s.Close)
	return s
}

// AddMount mounts a KV engine of version 1 or 2 at path ("kv1",
// "team/kv"), as `vault secrets enable -path=PATH -version=N kv` does.
func (s *Server) AddMount(t testing.TB, path string, version int) {
	t.Helper()
	ctx := context.Background()
	st := &logical.InmemStorage{}
	cfg := logical.TestBackendConfig()
	cfg.StorageView = st
	cfg.Config = map[string]string{"version": strconv.Itoa(version), "plugin_name": "kv"}
	cfg.BackendUUID = fmt.Sprintf("5b7cba28-9b2a-4f6e-8f59-%012d", len(s.mounts))
	b, err := kv.Factory(ctx, cfg)
	if err != nil {
		t.Fatalf("vaulttest: KV engine: %v", err)
	}
	if err := b.Initialize(ctx, &logical.InitializationRequest{Storage: st}); err != nil {
		t.Fatalf("vaulttest: KV engine: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mounts[strings.Trim(path, "/")] = &engine{backend: b, storage: st, version: version}
}

// AddToken lets token read, and write when write is true.
func (s *Server) AddToken(token string, write bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = write
}

// SetTokenTTL gives a token added with AddToken a lifetime, as `vault
// token create -ttl=TTL -explicit-max-ttl=MAX [-renewable=false]` does:
// it expires ttl from now unless renewed, each renewal grants ttl again,
// never past max from now (0: no max). An expired token is unknown.
func (s *Server) SetTokenTTL(token string, ttl, max time.Duration, renewable bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	l := &lease{issued: now, expires: now.Add(ttl), ttl: ttl, renewable: renewable}
	if max > 0 {
		l.maxExpires = now.Add(max)
		if l.expires.After(l.maxExpires) { // Vault caps the first TTL too
			l.expires = l.maxExpires
		}
	}
	s.leases[token] = l
}

// SetTokenPolicies names a token's policies, as lookup-self reports them
// ("root" for a root token); the default is default and podium. They
// grant nothing here: AddToken's write does.
func (s *Server) SetTokenPolicies(token string, policies ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policies[token] = policies
}

// FailTokenRequests makes the next n requests to auth/token/ answer 503
// "Vault is sealed", as a sealed or restarting Vault does.
func (s *Server) FailTokenRequests(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failToken = n
}

// Renewals counts successful renew-self requests.
func (s *Server) Renewals() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.renewals
}

// Requests is how many requests reached an engine.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Put writes data as a new version of PATH on secret/, as `vault kv put
// secret/PATH ...` does, and fails t on error.
func (s *Server) Put(t testing.TB, path string, data map[string]any) {
	t.Helper()
	s.PutAt(t, Mount, path, data)
}

// PutAt is Put on the engine mounted at mount, of either version.
func (s *Server) PutAt(t testing.TB, mount, path string, data map[string]any) {
	t.Helper()
	e := s.engine(t, mount)
	req := &logical.Request{Operation: logical.UpdateOperation, Path: path, Data: data}
	if e.version == 2 {
		req.Path, req.Data = "data/"+path, map[string]any{"data": data}
	}
	if _, err := e.handle(req); err != nil {
		t.Fatalf("vaulttest: put %s/%s: %v", mount, path, err)
	}
}

// Delete soft-deletes the current version of PATH on secret/, as `vault
// kv delete`.
func (s *Server) Delete(t testing.TB, path string) {
	t.Helper()
	if _, err := s.engine(t, Mount).handle(&logical.Request{Operation: logical.DeleteOperation, Path: "data/" + path}); err != nil {
		t.Fatalf("vaulttest: delete %s: %v", path, err)
	}
}

// Get reads version (0: the current one) of PATH on secret/ and returns
// its data, nil when there is none.
func (s *Server) Get(t testing.TB, path string, version int) map[string]any {
	t.Helper()
	return s.GetAt(t, Mount, path, version)
}

// GetAt is Get on the engine mounted at mount (version is ignored on a
// KV version 1 engine).
func (s *Server) GetAt(t testing.TB, mount, path string, version int) map[string]any {
	t.Helper()
	e := s.engine(t, mount)
	req := &logical.Request{Operation: logical.ReadOperation, Path: path, Data: map[string]any{}}
	if e.version == 2 {
		req.Path = "data/" + path
		if version > 0 {
			req.Data["version"] = version
		}
	}
	resp, err := e.handle(req)
	if err != nil {
		t.Fatalf("vaulttest: get %s/%s: %v", mount, path, err)
	}
	if resp == nil {
		return nil
	}
	if e.version == 1 {
		return resp.Data
	}
	if resp.Data["data"] == nil {
		return nil
	}
	return resp.Data["data"].(map[string]any)
}

func (s *Server) engine(t testing.TB, mount string) *engine {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.mounts[strings.Trim(mount, "/")]
	if e == nil {
		t.Fatalf("vaulttest: nothing mounted at %s", mount)
	}
	return e
}

func (e *engine) handle(req *logical.Request) (*logical.Response, error) {
	req.Storage = e.storage
	resp, err := e.backend.HandleRequest(context.Background(), req)
	if err == nil && resp != nil && resp.IsError() {
		err = resp.Error()
	}
	return resp, err
}

// route finds the mount a path falls under, the longest one, as Vault's
// router does, and the path relative to it.
func (s *Server) route(p string) (string, *engine, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	best := ""
	for m := range s.mounts {
		if (p == m || strings.HasPrefix(p, m+"/")) && len(m) > len(best) {
			best = m
		}
	}
	if best == "" {
		return "", nil, ""
	}
	return best, s.mounts[best], strings.TrimPrefix(strings.TrimPrefix(p, best), "/")
}

// routes is the API the server answers, as Vault's router finds it: the
// token store, the vault CLI's KV preflight, and the mounted engines
// under every other path.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/auth/token/lookup-self", s.tokenRoute(s.lookupSelf))
	mux.HandleFunc("POST /v1/auth/token/renew-self", s.tokenRoute(s.renewSelf))
	mux.HandleFunc("PUT /v1/auth/token/renew-self", s.tokenRoute(s.renewSelf))
	mux.HandleFunc("/v1/auth/token/", s.tokenRoute(noTokenRoute))
	mux.HandleFunc("GET /v1/sys/internal/ui/mounts/{path...}", s.servePreflight)
	mux.HandleFunc("/v1/", s.serveKV)
	return mux
}

// caller is who sent a request: its token, whether the server knows the
// token (and its lease has not ended) and lets it write, and its lease.
type caller struct {
	token        string
	known, write bool
	lease        *lease
}

func (s *Server) caller(r *http.Request) caller {
	c := caller{token: r.Header.Get("X-Vault-Token")}
	s.mu.Lock()
	defer s.mu.Unlock()
	c.write, c.known = s.tokens[c.token]
	c.lease = s.leases[c.token]
	if c.lease != nil && !time.Now().Before(c.lease.expires) {
		c.known = false // Vault revokes a token when its lease ends
	}
	return c
}

// servePreflight answers what the vault CLI asks first (its "KV
// preflight"): which mount a path is on, and the engine's version. Vault
// answers any token that has some capability on the path; here, any
// known token.
func (s *Server) servePreflight(w http.ResponseWriter, r *http.Request) {
	q := r.PathValue("path")
	m, e, _ := s.route(q)
	switch {
	case !s.caller(r).known:
		respondError(w, http.StatusForbidden, "permission denied")
	case e == nil:
		respondError(w, http.StatusForbidden, "preflight capability check returned 403, please ensure client's policies grant access to path \""+q+"/\"")
	default:
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{
			"path": m + "/", "type": "kv", "description": "", "local": false, "seal_wrap": false,
			"options": map[string]any{"version": strconv.Itoa(e.version)},
		}})
	}
}

// serveKV hands a request under a mount to its engine, after the token
// check, with the operation Vault's router would give it.
func (s *Server) serveKV(w http.ResponseWriter, r *http.Request) {
	c := s.caller(r)
	p := strings.TrimPrefix(r.URL.Path, "/v1/")
	_, e, rest := s.route(p)
	if e == nil {
		respondError(w, http.StatusNotFound, "no handler for route \""+p+"\". route entry not found.")
		return
	}
	req := kvRequest(w, r, rest)
	if req == nil {
		return
	}
	if !c.known || (req.Operation != logical.ReadOperation && !c.write) {
		respondError(w, http.StatusForbidden, "permission denied")
		return
	}
	// Vault's router asks the engine whether the entry exists to tell a
	// create from an update; the KV engine treats both alike.
	req.Storage = e.storage
	if checkFound, exists, err := e.backend.HandleExistenceCheck(r.Context(), req); err == nil && checkFound && !exists && req.Operation == logical.UpdateOperation {
		req.Operation = logical.CreateOperation
	}
	s.mu.Lock()
	s.requests++
	onWrite := s.onWrite
	s.mu.Unlock()
	if onWrite != nil && req.Operation != logical.ReadOperation {
		onWrite()
	}
	resp, err := e.backend.HandleRequest(r.Context(), req)
	respond(w, req, resp, err)
}

// kvRequest turns r into the engine's request for path: a read with the
// query as data, an update with the JSON body, or a delete. It answers r
// itself and returns nil when the method or the body is wrong.
func kvRequest(w http.ResponseWriter, r *http.Request, path string) *logical.Request {
	req := &logical.Request{Path: path, Data: map[string]any{}}
	switch r.Method {
	case http.MethodGet:
		req.Operation = logical.ReadOperation
		for k, v := range r.URL.Query() {
			req.Data[k] = v[0]
		}
	case http.MethodPost, http.MethodPut:
		req.Operation = logical.UpdateOperation
		if err := json.NewDecoder(r.Body).Decode(&req.Data); err != nil {
			respondError(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
			return nil
		}
	case http.MethodDelete:
		req.Operation = logical.DeleteOperation
	default:
		respondError(w, http.StatusMethodNotAllowed, "")
		return nil
	}
	return req
}

// respond writes an engine's answer to req as Vault's HTTP layer does:
// its errors through RespondErrorCommon, no answer as 404 (a read) or 204,
// a raw answer as is, anything else in the JSON envelope.
func respond(w http.ResponseWriter, req *logical.Request, resp *logical.Response, err error) {
	if status, rerr := logical.RespondErrorCommon(req, resp, err); rerr != nil {
		respondError(w, status, rerr.Error())
		return
	}
	switch {
	case resp == nil && req.Operation == logical.ReadOperation:
		respondError(w, http.StatusNotFound, "")
	case resp == nil:
		w.WriteHeader(http.StatusNoContent)
	default:
		if code, ok := resp.Data[logical.HTTPStatusCode].(int); ok {
			respondRaw(w, code, resp.Data)
			return
		}
		respondJSON(w, resp)
	}
}

// respondRaw writes a raw answer (the engine's RespondWithStatusCode, used
// for a read of a deleted version: its metadata with a 404) as Vault's
// respondRaw writes it.
func respondRaw(w http.ResponseWriter, code int, data map[string]any) {
	if ct, ok := data[logical.HTTPContentType].(string); ok {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(code)
	switch body := data[logical.HTTPRawBody].(type) {
	case []byte:
		w.Write(body)
	case string: // base64 when it decodes, as respondRaw reads it
		if b, err := base64.StdEncoding.DecodeString(body); err == nil {
			w.Write(b)
		} else {
			w.Write([]byte(body))
		}
	}
}

// respondJSON writes resp in the envelope of vault/sdk's
// LogicalResponseToHTTPResponse.
func respondJSON(w http.ResponseWriter, resp *logical.Response) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(logical.LogicalResponseToHTTPResponse(resp))
}

// tokenHandler answers one request to the token store from a known token
// with the given policies.
type tokenHandler func(w http.ResponseWriter, r *http.Request, c caller, policies []string)

// tokenRoute answers a request to the token store with f after the checks
// every such request passes: the server is not failing token requests
// (FailTokenRequests) and the token is known.
func (s *Server) tokenRoute(f tokenHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := s.caller(r)
		s.mu.Lock()
		sealed := s.failToken > 0
		if sealed {
			s.failToken--
		}
		policies := s.policies[c.token]
		s.mu.Unlock()
		switch {
		case sealed:
			respondError(w, http.StatusServiceUnavailable, "Vault is sealed")
			return
		case !c.known:
			respondError(w, http.StatusForbidden, "permission denied")
			return
		}
		if policies == nil {
			policies = []string{"default", "podium"}
		}
		f(w, r, c, policies)
	}
}

// lookupSelf answers as Vault's token store does (vault/token_store.go:
// handleLookup's data keys).
func (s *Server) lookupSelf(w http.ResponseWriter, _ *http.Request, c caller, policies []string) {
	now := time.Now()
	data := map[string]any{
		"id": c.token, "accessor": "acc-" + strconv.Itoa(len(c.token)), "policies": policies,
		"display_name": "token", "path": "auth/token/create", "type": "service", "orphan": false,
		"num_uses": 0, "meta": nil, "entity_id": "", "explicit_max_ttl": int64(0),
		"creation_ttl": int64(0), "ttl": int64(0), "expire_time": nil, "renewable": false,
		"creation_time": now.Unix(), "issue_time": now.Format(time.RFC3339Nano),
	}
	if l := c.lease; l != nil {
		data["creation_ttl"] = int64(l.ttl.Seconds())
		data["ttl"] = int64(l.expires.Sub(now).Seconds())
		data["expire_time"] = l.expires.Format(time.RFC3339Nano)
		data["renewable"] = l.renewable
		data["creation_time"] = l.issued.Unix()
		data["issue_time"] = l.issued.Format(time.RFC3339Nano)
		if !l.maxExpires.IsZero() {
			data["explicit_max_ttl"] = int64(l.maxExpires.Sub(l.issued).Seconds())
		}
	}
	respondJSON(w, &logical.Response{Data: data})
}

// renewSelf renews the token's lease as Vault's expiration manager does,
// capped at its max TTL. A token without a TTL has nothing to renew;
// Vault answers with its unchanged auth.
func (s *Server) renewSelf(w http.ResponseWriter, _ *http.Request, c caller, policies []string) {
	l := c.lease
	if l == nil {
		respondJSON(w, &logical.Response{Auth: &logical.Auth{ClientToken: c.token, Policies: policies}})
		return
	}
	if !l.renewable {
		respondError(w, http.StatusBadRequest, "lease is not renewable")
		return
	}
	now := time.Now()
	s.mu.Lock()
	l.expires = now.Add(l.ttl)
	if !l.maxExpires.IsZero() && l.expires.After(l.maxExpires) {
		l.expires = l.maxExpires
	}
	ttl := l.expires.Sub(now)
	s.renewals++
	s.mu.Unlock()
	respondJSON(w, &logical.Response{Auth: &logical.Auth{ClientToken: c.token, Accessor: "acc-" + strconv.Itoa(len(c.token)),
		Policies: policies, TokenPolicies: policies,
		LeaseOptions: logical.LeaseOptions{TTL: ttl, Renewable: true}}})
}

// noTokenRoute answers a token-store path the server does not serve.
func noTokenRoute(w http.ResponseWriter, r *http.Request, _ caller, _ []string) {
	op := strings.TrimPrefix(r.URL.Path, "/v1/auth/token/")
	respondError(w, http.StatusNotFound, "no handler for route \"auth/token/"+op+"\". route entry not found.")
}

func respondError(w http.ResponseWriter, status int, msg string) {
	errs := []string{}
	if msg != "" {
		errs = append(errs, msg)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": errs})
}

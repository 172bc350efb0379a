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
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
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

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	tok := r.Header.Get("X-Vault-Token")
	s.mu.Lock()
	write, known := s.tokens[tok]
	l := s.leases[tok]
	if l != nil && !time.Now().Before(l.expires) {
		known = false // Vault revokes a token when its lease ends
	}
	s.mu.Unlock()
	p := strings.TrimPrefix(r.URL.Path, "/v1/")
	if op, ok := strings.CutPrefix(p, "auth/token/"); ok {
		s.serveToken(w, r, op, tok, known, l)
		return
	}
	// What the vault CLI asks first (its "KV preflight"): which mount a
	// path is on, and the engine's version. Vault answers any token that
	// has some capability on the path; here, any known token.
	if q, ok := strings.CutPrefix(p, "sys/internal/ui/mounts/"); ok && r.Method == http.MethodGet {
		m, e, _ := s.route(q)
		switch {
		case !known:
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
		return
	}
	_, e, rest := s.route(p)
	if e == nil {
		respondError(w, http.StatusNotFound, "no handler for route \""+p+"\". route entry not found.")
		return
	}
	req := &logical.Request{Path: rest, Data: map[string]any{}}
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
			return
		}
	case http.MethodDelete:
		req.Operation = logical.DeleteOperation
	default:
		respondError(w, http.StatusMethodNotAllowed, "")
		return
	}
	if !known || (req.Operation != logical.ReadOperation && !write) {
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
	if status, rerr := logical.RespondErrorCommon(req, resp, err); rerr != nil {
		respondError(w, status, rerr.Error())
		return
	}
	if resp == nil {
		if req.Operation == logical.ReadOperation {
			respondError(w, http.StatusNotFound, "")
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	// A raw answer (the engine's RespondWithStatusCode, used for a read of
	// a deleted version: its metadata with a 404) is written as Vault's
	// respondRaw writes it.
	if code, ok := resp.Data[logical.HTTPStatusCode].(int); ok {
		if ct, ok := resp.Data[logical.HTTPContentType].(string); ok {
			w.Header().Set("Content-Type", ct)
		}
		w.WriteHeader(code)
		switch body := resp.Data[logical.HTTPRawBody].(type) {
		case []byte:
			w.Write(body)
		case string: // base64 when it decodes, as respondRaw reads it
			if b, err := base64.StdEncoding.DecodeString(body); err == nil {
				w.Write(b)
			} else {
				w.Write([]byte(body))
			}
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(logical.LogicalResponseToHTTPResponse(resp))
}

// serveToken answers lookup-self and renew-self as Vault's token store
// does (vault/token_store.go: handleLookup's data keys; renewals through
// the expiration manager, capped at the max TTL), in the envelope of
// vault/sdk's LogicalResponseToHTTPResponse.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, op, tok string, known bool, l *lease) {
	s.mu.Lock()
	sealed := s.failToken > 0
	if sealed {
		s.failToken--
	}
	policies := s.policies[tok]
	s.mu.Unlock()
	switch {
	case sealed:
		respondError(w, http.StatusServiceUnavailable, "Vault is sealed")
		return
	case !known:
		respondError(w, http.StatusForbidden, "permission denied")
		return
	}
	now := time.Now()
	if policies == nil {
		policies = []string{"default", "podium"}
	}
	var resp *logical.Response
	switch {
	case op == "lookup-self" && r.Method == http.MethodGet:
		data := map[string]any{
			"id": tok, "accessor": "acc-" + strconv.Itoa(len(tok)), "policies": policies,
			"display_name": "token", "path": "auth/token/create", "type": "service", "orphan": false,
			"num_uses": 0, "meta": nil, "entity_id": "", "explicit_max_ttl": int64(0),
			"creation_ttl": int64(0), "ttl": int64(0), "expire_time": nil, "renewable": false,
			"creation_time": now.Unix(), "issue_time": now.Format(time.RFC3339Nano),
		}
		if l != nil {
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
		resp = &logical.Response{Data: data}
	case op == "renew-self" && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		if l == nil {
			// A token without a TTL has nothing to renew; Vault answers
			// with its unchanged auth.
			resp = &logical.Response{Auth: &logical.Auth{ClientToken: tok, Policies: policies}}
			break
		}
		if !l.renewable {
			respondError(w, http.StatusBadRequest, "lease is not renewable")
			return
		}
		s.mu.Lock()
		l.expires = now.Add(l.ttl)
		if !l.maxExpires.IsZero() && l.expires.After(l.maxExpires) {
			l.expires = l.maxExpires
		}
		ttl := l.expires.Sub(now)
		s.renewals++
		s.mu.Unlock()
		resp = &logical.Response{Auth: &logical.Auth{ClientToken: tok, Accessor: "acc-" + strconv.Itoa(len(tok)),
			Policies: policies, TokenPolicies: policies,
			LeaseOptions: logical.LeaseOptions{TTL: ttl, Renewable: true}}}
	default:
		respondError(w, http.StatusNotFound, "no handler for route \"auth/token/"+op+"\". route entry not found.")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(logical.LogicalResponseToHTTPResponse(resp))
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

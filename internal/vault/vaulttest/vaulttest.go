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
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	kv "github.com/hashicorp/vault-plugin-secrets-kv"
	"github.com/hashicorp/vault/sdk/logical"
)

// Mount is where the KV v2 engine is mounted, as in `vault server -dev`.
const Mount = "secret"

// Server is a Vault with one KV v2 mount and a set of tokens.
type Server struct {
	*httptest.Server
	backend logical.Backend
	storage logical.Storage

	mu       sync.Mutex
	tokens   map[string]bool // token -> may write
	requests int
	onWrite  func()
}

// OnWrite sets f to run before each write request reaches the engine,
// e.g. to write a newer version first, as a concurrent writer would.
func (s *Server) OnWrite(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onWrite = f
}

// New starts a server with the KV v2 engine at secret/. Register tokens
// with AddToken. It is closed when t ends.
func New(t testing.TB) *Server {
	t.Helper()
	ctx := context.Background()
	st := &logical.InmemStorage{}
	cfg := logical.TestBackendConfig()
	cfg.StorageView = st
	cfg.Config = map[string]string{"version": "2", "plugin_name": "kv"}
	cfg.BackendUUID = "5b7cba28-9b2a-4f6e-8f59-53a4c3a0d6f1"
	b, err := kv.Factory(ctx, cfg)
	if err != nil {
		t.Fatalf("vaulttest: KV engine: %v", err)
	}
	if err := b.Initialize(ctx, &logical.InitializationRequest{Storage: st}); err != nil {
		t.Fatalf("vaulttest: KV engine: %v", err)
	}
	s := &Server{backend: b, storage: st, tokens: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// AddToken lets token read, and write when write is true.
func (s *Server) AddToken(token string, write bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = write
}

// Requests is how many requests reached the engine.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Put writes data as a new version of PATH on the mount, as `vault kv
// put secret/PATH ...` does, and fails t on error.
func (s *Server) Put(t testing.TB, path string, data map[string]any) {
	t.Helper()
	if _, err := s.handle(&logical.Request{Operation: logical.UpdateOperation, Path: "data/" + path, Data: map[string]any{"data": data}}); err != nil {
		t.Fatalf("vaulttest: put %s: %v", path, err)
	}
}

// Delete soft-deletes the current version of PATH, as `vault kv delete`.
func (s *Server) Delete(t testing.TB, path string) {
	t.Helper()
	if _, err := s.handle(&logical.Request{Operation: logical.DeleteOperation, Path: "data/" + path}); err != nil {
		t.Fatalf("vaulttest: delete %s: %v", path, err)
	}
}

// Get reads version (0: the current one) of PATH and returns its data,
// nil when there is none.
func (s *Server) Get(t testing.TB, path string, version int) map[string]any {
	t.Helper()
	req := &logical.Request{Operation: logical.ReadOperation, Path: "data/" + path, Data: map[string]any{}}
	if version > 0 {
		req.Data["version"] = version
	}
	resp, err := s.handle(req)
	if err != nil {
		t.Fatalf("vaulttest: get %s: %v", path, err)
	}
	if resp == nil || resp.Data["data"] == nil {
		return nil
	}
	return resp.Data["data"].(map[string]any)
}

func (s *Server) handle(req *logical.Request) (*logical.Response, error) {
	req.Storage = s.storage
	resp, err := s.backend.HandleRequest(context.Background(), req)
	if err == nil && resp != nil && resp.IsError() {
		err = resp.Error()
	}
	return resp, err
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/"+Mount+"/")
	if !ok {
		respondError(w, http.StatusNotFound, "no handler for route \""+strings.TrimPrefix(r.URL.Path, "/v1/")+"\". route entry not found.")
		return
	}
	s.mu.Lock()
	write, known := s.tokens[r.Header.Get("X-Vault-Token")]
	s.mu.Unlock()
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
	req.Storage = s.storage
	if checkFound, exists, err := s.backend.HandleExistenceCheck(r.Context(), req); err == nil && checkFound && !exists && req.Operation == logical.UpdateOperation {
		req.Operation = logical.CreateOperation
	}
	s.mu.Lock()
	s.requests++
	onWrite := s.onWrite
	s.mu.Unlock()
	if onWrite != nil && req.Operation != logical.ReadOperation {
		onWrite()
	}
	resp, err := s.backend.HandleRequest(r.Context(), req)
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

func respondError(w http.ResponseWriter, status int, msg string) {
	errs := []string{}
	if msg != "" {
		errs = append(errs, msg)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": errs})
}

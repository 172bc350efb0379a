package upstream_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"voicetoken/internal/credential"
	"voicetoken/internal/upstream"
)

// exampleToken builds an unsigned-looking JWT valid for an hour; a real
// one comes from the platform's login flow.
func exampleToken() string {
	enc := base64.RawURLEncoding.EncodeToString
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(`{"iss":"podium","exp":`+exp+`}`)) + "." + enc([]byte("signature-bytes"))
}

// A Go agent sends its REST calls through a Transport: the current token
// is added to each request, and 401/403 answers become AUTH_FAILURE.
func ExampleTransport() {
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("platform got a bearer token:", strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ey"))
	}))
	defer platform.Close()

	// In production: credential.ParseSpec("file:/run/secrets/podium_token")
	// and go src.Run(ctx) to follow rotations.
	env := map[string]string{"PODIUM_TOKEN": exampleToken()}
	src, err := credential.New(context.Background(), credential.Config{
		Spec:   credential.Spec{Kind: credential.KindEnv, Var: "PODIUM_TOKEN"},
		Getenv: func(k string) string { return env[k] },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	u, _ := url.Parse(platform.URL)
	client := (&upstream.Transport{Source: src, Host: u.Host}).Client()
	resp, err := client.Get(platform.URL + "/api/outposts")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output:
	// platform got a bearer token: true
	// 200
}

// DialWebSocket is coder/websocket's Dial with the token added and auth
// close codes (here 4001) reported as AUTH_FAILURE.
func ExampleTransport_DialWebSocket() {
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.Close(4001, "token revoked")
	}))
	defer platform.Close()

	env := map[string]string{"PODIUM_TOKEN": exampleToken()}
	src, _ := credential.New(context.Background(), credential.Config{
		Spec: credential.Spec{Kind: credential.KindEnv, Var: "PODIUM_TOKEN"}, Getenv: func(k string) string { return env[k] }})
	u, _ := url.Parse(platform.URL)
	failures := make(chan upstream.AuthFailure, 1)
	tr := &upstream.Transport{Source: src, Host: u.Host, OnAuthFailure: func(f upstream.AuthFailure) { failures <- f }}

	c, _, err := tr.DialWebSocket(context.Background(), "ws://"+u.Host+"/ws", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()
	_, _, err = c.Read(context.Background())
	fmt.Println("closed with", int(websocket.CloseStatus(err)))
	f := <-failures
	fmt.Println(f.Source, f.CloseCode, f.Reason)
	// Output:
	// closed with 4001
	// websocket 4001 token revoked
}

// NewProxy serves agents that do not handle tokens at all: they call the
// proxy on loopback and it forwards with the current token.
func ExampleNewProxy() {
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "hello from "+r.URL.Path)
	}))
	defer platform.Close()

	env := map[string]string{"PODIUM_TOKEN": exampleToken()}
	src, _ := credential.New(context.Background(), credential.Config{
		Spec: credential.Spec{Kind: credential.KindEnv, Var: "PODIUM_TOKEN"}, Getenv: func(k string) string { return env[k] }})
	up, _ := upstream.ParseUpstream(platform.URL)
	proxy := httptest.NewServer(upstream.NewProxy(up, &upstream.Transport{Source: src}))
	defer proxy.Close()

	resp, err := http.Get(proxy.URL + "/v1/rooms")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(b))
	// Output: 200 hello from /v1/rooms
}

// Package logscan is for tests: the one helper every test that produces
// output uses to prove that no secret or token leaks through it. A test
// registers the values it must never see (API secrets, bearer keys,
// upstream tokens, tokens it was issued) with Secret, and routes what it
// produces through the Logs:
//
//   - log lines: Logger() (or Logs as an io.Writer), scanned when the test
//     ends, against every secret registered by then;
//   - error strings: NoSecret(err), scanned at once;
//   - HTTP answers: Handler(h) wraps a handler and scans the headers and
//     body of every response it writes; Response(resp) scans one response
//     a client received;
//   - metrics: Metrics(h) or Gatherer(g) scrape /metrics when the test
//     ends, against every secret registered by then;
//   - any other text (a CLI's stdout and stderr): Text(where, s).
//
// Answers and texts are scanned when produced, logs and metrics at the
// end. A token a server hands out is registered with Issued: the answer
// to a token request carries it by design (and a frozen test clock makes
// the same request mint the same token again), but it must never reach a
// log line, a metric or an error.
//
// A hit fails the test with the place it was found and the surrounding
// text with the secret cut out: the failure message never shows the
// secret either. TestEveryTestUsesLogscan (enforce_test.go) fails when a
// test file that builds a logger or an httptest server or recorder does
// not use this package.
//
// It scans and nothing else: the polling helper and the builder of test
// JWTs live in internal/testkit. Nothing in the binary imports it.
package logscan

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MinSecretLen is the shortest value Secret registers: anything shorter
// would match ordinary text. Register a short secret in a form that
// cannot occur by chance with Exact (`"secret"` as a JSON value).
const MinSecretLen = 8

// Logs captures JSON log lines and scans everything a test routes
// through it for registered secrets; see the package comment.
type Logs struct {
	t       testing.TB
	mu      sync.Mutex
	buf     bytes.Buffer
	secrets []secret
	index   map[string][]int // secrets by their first MinSecretLen bytes; nil when stale
	atEnd   []collector
	// scanned counts the texts and bytes scanned, for summaries.
	items, bytes int
	hits         int
}

type secret struct {
	val    string
	issued bool // scanned in logs, metrics and errors only
}

type collector struct {
	where   string
	collect func() []byte
}

// New returns a Logs that scans the logs and the end-of-test collectors
// (Metrics, Gatherer, AtEnd) when t ends, failing t on any hit.
func New(t testing.TB) *Logs {
	l := &Logs{t: t}
	t.Cleanup(l.finish)
	return l
}

func (l *Logs) finish() {
	l.mu.Lock()
	atEnd := l.atEnd
	l.mu.Unlock()
	for _, c := range atEnd {
		l.scan(c.where, c.collect(), true)
	}
	l.mu.Lock()
	logs := bytes.Clone(l.buf.Bytes())
	l.mu.Unlock()
	l.scan("log", logs, true)
}

// Write stores log output.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns the captured log text.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Logger returns a JSON logger writing to l.
func (l *Logs) Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Secret registers token values (and their signature segments) and other
// secrets to scan for. Values shorter than MinSecretLen are ignored.
func (l *Logs) Secret(vals ...string) { l.add(false, vals) }

// Issued registers tokens the code under test hands out (a minted token
// in an answer, a token a command prints): they must appear in no log
// line, metric or error, but answers and Text are not scanned for them.
func (l *Logs) Issued(vals ...string) { l.add(true, vals) }

func (l *Logs) add(issued bool, vals []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range vals {
		if len(v) < MinSecretLen {
			continue // too short to be a token; would match everything
		}
		l.secrets = append(l.secrets, secret{v, issued})
		if i := strings.LastIndexByte(v, '.'); i > 0 && len(v)-i > 16 {
			l.secrets = append(l.secrets, secret{v[i+1:], issued})
		}
	}
	l.index = nil
}

// Exact registers strings of any length, as they are: for a short secret
// in a form that cannot occur by chance, e.g. `"secret"` in JSON.
func (l *Logs) Exact(vals ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range vals {
		if v != "" {
			l.secrets = append(l.secrets, secret{val: v})
		}
	}
	l.index = nil
}

// NoSecret fails when err's message contains a registered secret.
func (l *Logs) NoSecret(err error) {
	l.t.Helper()
	if err == nil {
		return
	}
	l.scan("error", []byte(err.Error()), true)
}

// Text fails when s, produced by where ("stdout", "stderr"), contains a
// registered secret.
func (l *Logs) Text(where, s string) {
	l.t.Helper()
	l.scan(where, []byte(s), false)
}

// Header fails when a header name or value contains a registered secret.
func (l *Logs) Header(where string, h http.Header) {
	l.t.Helper()
	var b bytes.Buffer
	h.Write(&b)
	l.scan(where+" headers", b.Bytes(), false)
}

// Response scans a response a client received (headers and body), and
// returns the body, which it has read and closed; resp.Body is replaced
// by a reader over the same bytes so the caller may read it again.
func (l *Logs) Response(resp *http.Response) []byte {
	l.t.Helper()
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		l.t.Errorf("logscan: reading the response body: %v", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	where := "response"
	if resp.Request != nil { // nil from http.ReadResponse(r, nil)
		where += " to " + resp.Request.Method + " " + resp.Request.URL.Path
	}
	l.Header(where, resp.Header)
	l.scan(where+" body", body, false)
	return body
}

// Handler wraps h so that the headers and body of every response it
// writes are scanned when the handler returns. Hijacked connections
// (WebSockets) are scanned up to the hijack.
func (l *Logs) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		where := "response to " + r.Method + " " + r.URL.Path
		l.Header(where, w.Header())
		l.scan(where+" body", rec.body.Bytes(), false)
	})
}

// recorder copies what a handler writes. Unwrap lets
// http.ResponseController reach Flush and Hijack underneath.
type recorder struct {
	http.ResponseWriter
	mu   sync.Mutex
	body bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	if r.body.Len() < 8<<20 {
		r.body.Write(p)
	}
	r.mu.Unlock()
	return r.ResponseWriter.Write(p)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush implements http.Flusher for handlers that assert it directly.
func (r *recorder) Flush() { http.NewResponseController(r.ResponseWriter).Flush() }

// Hijack implements http.Hijacker for handlers that assert it directly.
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

// AtEnd registers collect to be called when the test ends, before the
// logs are scanned; what it returns is scanned against every secret
// registered by then.
func (l *Logs) AtEnd(where string, collect func() []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.atEnd = append(l.atEnd, collector{where, collect})
}

// Metrics scrapes GET /metrics from h when the test ends and scans it.
func (l *Logs) Metrics(h http.Handler) {
	l.AtEnd("/metrics", func() []byte {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		return w.Body.Bytes()
	})
}

// Gatherer renders g in the Prometheus text format when the test ends
// and scans it.
func (l *Logs) Gatherer(g prometheus.Gatherer) {
	l.Metrics(promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
}

// Scanned reports how many texts and bytes were scanned so far and how
// many hits were found, for a test's summary line.
func (l *Logs) Scanned() (items, bytes, hits int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.items, l.bytes, l.hits
}

// Secrets returns how many values are registered.
func (l *Logs) Secrets() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.secrets)
}

// scan fails the test for each registered secret found in b (issued
// tokens only when withIssued). The message shows where, and the text
// around the hit with the secret cut out.
//
// A test may register thousands of issued tokens and log megabytes, so
// the scan is one pass over b with a map lookup of the MinSecretLen bytes
// at each offset (secrets indexed by their prefix), not one search per
// secret.
func (l *Logs) scan(where string, b []byte, withIssued bool) {
	l.t.Helper()
	l.mu.Lock()
	l.items++
	l.bytes += len(b)
	hit := l.find(b, withIssued)
	found := make([]string, 0, len(hit))
	first := len(b)
	for i, off := range hit {
		found = append(found, l.secrets[i].val)
		first = min(first, off)
	}
	l.hits += len(found)
	l.mu.Unlock()
	if len(found) == 0 {
		return
	}
	l.t.Errorf("logscan: %s contains a registered secret (%d hit(s)): ...%.160s...", where, len(found), excerpt(b, first, found))
}

// find returns the registered secrets in b (issued tokens only when
// withIssued), by index, with the offset of each one's first occurrence.
// l.mu must be held.
func (l *Logs) find(b []byte, withIssued bool) map[int]int {
	hit := map[int]int{}
	wanted := func(i int) bool {
		_, dup := hit[i]
		return !dup && (withIssued || !l.secrets[i].issued)
	}
	// Secrets shorter than the index key (registered with Exact) are
	// searched for one by one.
	for i, s := range l.secrets {
		if len(s.val) < MinSecretLen && wanted(i) {
			if at := bytes.Index(b, []byte(s.val)); at >= 0 {
				hit[i] = at
			}
		}
	}
	l.buildIndex()
	if len(l.index) == 0 {
		return hit
	}
	for off := 0; off+MinSecretLen <= len(b); off++ {
		for _, i := range l.index[string(b[off:off+MinSecretLen])] {
			if wanted(i) && bytes.HasPrefix(b[off:], []byte(l.secrets[i].val)) {
				hit[i] = off
			}
		}
	}
	return hit
}

// buildIndex indexes the secrets by their first MinSecretLen bytes, unless
// the index is current. l.mu must be held.
func (l *Logs) buildIndex() {
	if l.index != nil {
		return
	}
	l.index = map[string][]int{}
	for i, s := range l.secrets {
		if len(s.val) >= MinSecretLen {
			k := s.val[:MinSecretLen]
			l.index[k] = append(l.index[k], i)
		}
	}
}

// excerpt returns the line of b that holds offset first with the found
// secrets cut out (the longest first, so that a token goes whole even
// when a part of it is registered too), from 60 bytes before the first
// cut.
func excerpt(b []byte, first int, found []string) string {
	start := bytes.LastIndexByte(b[:first], '\n') + 1
	end := len(b)
	if n := bytes.IndexByte(b[first:], '\n'); n >= 0 {
		end = first + n
	}
	sort.Slice(found, func(i, j int) bool { return len(found[i]) > len(found[j]) })
	text := string(b[start:end])
	for _, s := range found {
		text = strings.ReplaceAll(text, s, "<SECRET>")
	}
	i := max(strings.Index(text, "<SECRET>")-60, 0)
	return text[i:]
}

// Events returns the decoded lines whose event is ev.
func (l *Logs) Events(ev string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.buf.String(), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			l.t.Errorf("log line is not JSON: %v", err)
			continue
		}
		if m["event"] == ev {
			out = append(out, m)
		}
	}
	return out
}

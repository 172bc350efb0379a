package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"voicetoken/internal/testkit"
	"voicetoken/internal/token"
)

type dashboard struct {
	Title      string
	UID        string
	Templating struct {
		List []struct{ Name, Type, Query string }
	}
	Panels []panel
}

type panel struct {
	ID         int
	Type       string
	Title      string
	Datasource *struct{ Type, UID string }
	GridPos    struct{ H, W, X, Y int } `json:"gridPos"`
	Targets    []struct {
		RefID string `json:"refId"`
		Expr  string
	}
	FieldConfig struct {
		Defaults struct{ Unit string }
	} `json:"fieldConfig"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("grafana/voicetoken.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("voicetoken.json: %v", err)
	}
	return d
}

// queryPanels are the panels that query (rows do not).
func queryPanels(d dashboard) []panel {
	var out []panel
	for _, p := range d.Panels {
		if p.Type != "row" {
			out = append(out, p)
		}
	}
	return out
}

// TestDashboardStructure: a datasource variable every panel uses, unique
// ids, a unit on every panel, one query at least, panels inside the
// 24-column grid, and a panel for each metric voicetoken exports that an
// operator watches.
func TestDashboardStructure(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q title %q", d.UID, d.Title)
	}
	if len(d.Templating.List) == 0 || d.Templating.List[0].Type != "datasource" || d.Templating.List[0].Query != "prometheus" || d.Templating.List[0].Name != "datasource" {
		t.Fatalf("want a Prometheus datasource variable named datasource first, got %+v", d.Templating.List)
	}
	units := []string{"reqps", "s", "short", "none", "percentunit"}
	ids := map[int]bool{}
	var exprs strings.Builder
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H <= 0 {
			t.Errorf("%q: gridPos %+v outside the grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("%q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
		}
		if !slices.Contains(units, p.FieldConfig.Defaults.Unit) {
			t.Errorf("%q: unit %q, want one of %q", p.Title, p.FieldConfig.Defaults.Unit, units)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%q: no query", p.Title)
		}
		for _, q := range p.Targets {
			if q.Expr == "" || q.RefID == "" {
				t.Errorf("%q: target %+v", p.Title, q)
			}
			exprs.WriteString(q.Expr + "\n")
		}
	}
	for _, m := range []string{"voicetoken_tokens_issued_total", "voicetoken_token_denials_total", "voicetoken_http_request_duration_seconds_bucket",
		"voicetoken_credential_expiry_seconds", "voicetoken_auth_failures_total", "voicetoken_check_status", "voicetoken_check_last_run_timestamp_seconds",
		"voicetoken_key_info", "voicetoken_http_timeouts_total", "voicetoken_reloads_total", "voicetoken_upstream_responses_total",
		"voicetoken_check_token_expiry_seconds", "voicetoken_auth_failure_last_timestamp_seconds"} {
		if !strings.Contains(exprs.String(), m) {
			t.Errorf("no panel shows %s", m)
		}
	}
}

// prometheusBinary finds Debian's prometheus. CI (scripts/dashboard-check.sh)
// installs it and sets VOICETOKEN_REQUIRE_PROMETHEUS=1, so there the test
// fails rather than skips when it is missing.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: not starting prometheus")
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("VOICETOKEN_REQUIRE_PROMETHEUS") != "" {
			t.Fatalf("prometheus is not installed (apt-get install prometheus): %v", err)
		}
		t.Skip("prometheus is not installed (apt-get install prometheus); scripts/dashboard-check.sh installs it")
	}
	return p
}

// start runs a program until the test ends.
func start(t *testing.T, name string, args ...string) *bytes.Buffer {
	t.Helper()
	var log bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.Env = append(os.Environ(), "LIVEKIT_API_KEY=", "LIVEKIT_API_SECRET=", "LIVEKIT_KEYS=", "VOICETOKEN_KEY_FILE=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return &log
}

func get(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestDashboardQueries runs serve, proxy and check --watch built from this
// repository, Prometheus scraping them every second, drives traffic
// (tokens issued and denied, an upstream 401), and asserts that every
// panel's every query returns data through Prometheus's HTTP API.
func TestDashboardQueries(t *testing.T) {
	prom := prometheusBinary(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "voicetoken")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/voicetoken").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/private" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "token revoked", http.StatusUnauthorized)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	defer upstream.Close()
	// The agent's upstream token: any JWT with an exp; one of ours will do.
	k, _ := token.NewKey("APIupstream", "an-upstream-signing-secret-of-32b")
	cred, err := k.Mint(token.Claims{Subject: "podium-agent", Video: &token.VideoGrant{RoomList: true}}, time.Now(), 3*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	credFile := filepath.Join(dir, "podium_token")
	if err := os.WriteFile(credFile, []byte(cred+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	serveAddr, proxyAddr, proxyMetrics, checkMetrics, promAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	serveLog := start(t, bin, "serve", "--addr", serveAddr)
	proxyLog := start(t, bin, "proxy", "--listen", proxyAddr, "--upstream", upstream.URL, "--credential", "file:"+credFile, "--metrics", proxyMetrics)
	checkLog := start(t, bin, "check", "--watch", "1s", "--metrics-addr", checkMetrics, "--credential", "file:"+credFile, "--warn", "1h")

	conf := filepath.Join(dir, "prometheus.yml")
	targets := func(addrs ...string) string { return `["` + strings.Join(addrs, `","`) + `"]` }
	os.WriteFile(conf, []byte(fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: voicetoken-serve
    static_configs: [{targets: %s}]
  - job_name: voicetoken-proxy
    static_configs: [{targets: %s}]
  - job_name: voicetoken-check
    static_configs: [{targets: %s}]
`, targets(serveAddr), targets(proxyMetrics), targets(checkMetrics))), 0o600)
	promLog := start(t, prom, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	testkit.Eventually(t, 60*time.Second, "prometheus, serve, proxy and check --watch up", func() bool {
		return get(t, "http://"+promAddr+"/-/ready") == 200 && get(t, "http://"+serveAddr+"/healthz") == 200 &&
			get(t, "http://"+proxyMetrics+"/metrics") == 200 && get(t, "http://"+checkMetrics+"/metrics") == 200
	})

	// Traffic for a few scrapes: tokens issued, tokens denied, AUTH_FAILUREs.
	ctx, stop := context.WithCancel(context.Background())
	traffic := make(chan struct{})
	defer func() { stop(); <-traffic }()
	go func() {
		defer close(traffic)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			get(t, "http://"+serveAddr+"/api/token?room=test-room&identity=u1")
			get(t, "http://"+serveAddr+"/api/token?room=test-room&identity=u1&ttl=forever")
			get(t, "http://"+proxyAddr+"/private")
			get(t, "http://"+proxyAddr+"/public")
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	begin := time.Now()
	replacer := strings.NewReplacer("$__rate_interval", "5s", "$__range", "5m")
	panels := queryPanels(loadDashboard(t))
	for _, p := range panels {
		for _, q := range p.Targets {
			expr := replacer.Replace(q.Expr)
			var last string
			ok := func() bool {
				resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(expr))
				if err != nil {
					last = err.Error()
					return false
				}
				defer resp.Body.Close()
				var r struct {
					Status string
					Error  string
					Data   struct{ Result []json.RawMessage }
				}
				b, _ := io.ReadAll(resp.Body)
				json.Unmarshal(b, &r)
				last = string(b)
				if r.Status != "success" {
					t.Fatalf("%q query %s: Prometheus refused it: %s", p.Title, expr, b)
				}
				return len(r.Data.Result) > 0
			}
			deadline := time.Now().Add(45 * time.Second)
			testkit.Eventually(t, 50*time.Second, fmt.Sprintf("panel %q query %s to return data", p.Title, expr), func() bool {
				if ok() {
					return true
				}
				if time.Now().After(deadline) {
					t.Logf("last answer: %.400s\nserve:\n%.2000s\nproxy:\n%.2000s\ncheck:\n%.2000s\nprometheus:\n%.2000s", last, serveLog, proxyLog, checkLog, promLog)
				}
				return false
			})
			t.Logf("%-32s %s: data", p.Title, q.RefID)
		}
	}
	if os.Getenv("VOICETOKEN_DASHBOARD_PNG") == "" {
		return // no pictures asked for (scripts/dashboard-check.sh asks)
	}
	// Half a minute of traffic in Prometheus, so the pictures show lines.
	testkit.Eventually(t, 90*time.Second, "30 scrapes of traffic", func() bool {
		resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(`min(count_over_time(voicetoken_tokens_issued_total[40s])) >= 30`))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), `"result":[{`)
	})
	plotPanels(t, promAddr, panels, begin, replacer)
}

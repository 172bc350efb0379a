package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"voicetoken/internal/check"
	"voicetoken/internal/credential"
	"voicetoken/internal/upstream"
)

// exportedMetrics gathers the voicetoken_* series names that proxy and
// check --watch serve, from the packages themselves.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	reg := prometheus.NewRegistry()
	if _, err := upstream.NewMetrics(reg, noCredential{}, nil); err != nil {
		t.Fatal(err)
	}
	cm, err := check.NewMetrics(reg, check.MetricsOptions{Warn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cm.Observe([]check.Result{{Name: "token", Status: check.OK, Expires: time.Now().Add(time.Hour)}}, time.Now())
	names := map[string]bool{}
	// A counter vector with no series yet gathers nothing: name it.
	names["voicetoken_auth_failures_total"] = true
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	return names
}

// noCredential is a credential source with no token yet.
type noCredential struct{}

func (noCredential) Current() *credential.Credential { return nil }

// TestAlertRulesUseOurMetrics parses deploy/prometheus's rule files and
// checks that every voicetoken_* metric an expression names is one that
// proxy or check --watch serves, so a renamed metric cannot silently
// disable an alert.
func TestAlertRulesUseOurMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	files, _ := filepath.Glob(filepath.Join("..", "..", "deploy", "prometheus", "*.yml"))
	if len(files) == 0 {
		t.Fatal("no rule files in deploy/prometheus")
	}
	metric := regexp.MustCompile(`voicetoken_[a-z_]+`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.yml") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Groups []struct {
				Name  string
				Rules []struct {
					Alert, Expr string
					Labels      map[string]string
				}
			}
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(doc.Groups) == 0 {
			t.Errorf("%s: no groups", f)
		}
		for _, g := range doc.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" || strings.TrimSpace(r.Expr) == "" || r.Labels["severity"] == "" {
					t.Errorf("%s: rule %q needs alert, expr and a severity", f, r.Alert)
				}
				for _, m := range metric.FindAllString(r.Expr, -1) {
					if !exported[m] {
						t.Errorf("%s: %s uses %s, which voicetoken does not export", f, r.Alert, m)
					}
				}
			}
		}
	}
}

// TestAlertRulesFire runs scripts/promtool.sh: promtool check rules on
// every rule file and promtool test rules on deploy/prometheus/*_test.yml,
// where each alert fires on a synthetic series. It skips only when
// promtool is not installed here; CI runs the script itself, which fails
// without promtool.
func TestAlertRulesFire(t *testing.T) {
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Skip("promtool not installed (Debian package prometheus); CI runs scripts/promtool.sh, which requires it")
	}
	out, err := exec.Command("bash", filepath.Join("..", "..", "scripts", "promtool.sh")).CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/promtool.sh: %v\n%s", err, out)
	}
	for _, want := range []string{"voicetoken-rules_test.yml", "voicetoken-check-rules_test.yml"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("promtool did not run %s:\n%s", want, out)
		}
	}
}

// TestServeMetricsDistinct scrapes serve's /metrics and checks that no
// name is also one of proxy's or check --watch's: one Prometheus scrapes
// them all, and a shared name with other labels mixes their series in
// every query and alert that does not select a label.
func TestServeMetricsDistinct(t *testing.T) {
	base, _, stop := startServe(t, nil)
	defer stop()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	served := regexp.MustCompile(`(?m)^# TYPE (voicetoken_[a-z_]+) `).FindAllStringSubmatch(string(body), -1)
	if len(served) == 0 {
		t.Fatalf("serve's /metrics has no voicetoken_ metric:\n%s", body)
	}
	exported := exportedMetrics(t)
	for _, m := range served {
		// voicetoken_reloads_total is shared on purpose: same labels, component says whose.
		if exported[m[1]] && m[1] != "voicetoken_reloads_total" {
			t.Errorf("serve and proxy/check --watch both export %s", m[1])
		}
	}
}

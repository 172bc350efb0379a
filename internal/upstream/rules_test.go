package upstream_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestAlertRulesUseOurMetrics parses deploy/prometheus/*.yml and checks
// that every voicetoken_* metric an expression names is one this package
// exports, so a renamed metric cannot silently disable an alert.
func TestAlertRulesUseOurMetrics(t *testing.T) {
	exported := map[string]bool{"voicetoken_auth_failures_total": true, "voicetoken_credential_expiry_seconds": true, "voicetoken_proxy_refused_total": true}
	files, _ := filepath.Glob(filepath.Join("..", "..", "deploy", "prometheus", "*.yml"))
	if len(files) == 0 {
		t.Fatal("no rule files in deploy/prometheus")
	}
	metric := regexp.MustCompile(`voicetoken_[a-z_]+`)
	for _, f := range files {
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

package deploy_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// plotPanels renders each panel's series over [from, now] as a PNG in
// out/dashboard/ with gnuplot, so a reviewer can look at what the
// dashboard would show. Without gnuplot it says so and renders nothing:
// the pictures are a help, the assertions are in TestDashboardQueries.
func plotPanels(t *testing.T, promAddr string, panels []panel, from time.Time, replacer *strings.Replacer) {
	gnuplot, err := exec.LookPath("gnuplot")
	if err != nil {
		t.Logf("gnuplot is not installed: no PNGs (apt-get install gnuplot-nox)")
		return
	}
	dir := filepath.Join("..", "out", "dashboard")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	unsafe := regexp.MustCompile(`[^a-z0-9]+`)
	for _, p := range panels {
		var plots []string
		data := filepath.Join(t.TempDir(), "series")
		var dat strings.Builder
		block := 0
		for _, q := range p.Targets {
			v := url.Values{"query": {replacer.Replace(q.Expr)}, "start": {fmt.Sprint(from.Unix())},
				"end": {fmt.Sprint(time.Now().Unix())}, "step": {"1"}}
			resp, err := http.Get("http://" + promAddr + "/api/v1/query_range?" + v.Encode())
			if err != nil {
				t.Fatal(err)
			}
			var r struct {
				Data struct {
					Result []struct {
						Metric map[string]string
						Values [][2]any
					}
				}
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err := json.Unmarshal(b, &r); err != nil || len(r.Data.Result) == 0 {
				t.Logf("%q %s: no series to plot (%v): %.300s", p.Title, q.RefID, err, b)
			}
			for _, s := range r.Data.Result {
				var label []string
				for k, v := range s.Metric {
					label = append(label, k+"="+v)
				}
				for _, pt := range s.Values {
					ts, _ := pt[0].(float64)
					val, _ := pt[1].(string)
					fmt.Fprintf(&dat, "%.0f %s\n", ts-float64(from.Unix()), val)
				}
				dat.WriteString("\n\n")
				title := q.RefID + " " + strings.Join(label, ",")
				plots = append(plots, fmt.Sprintf("%q index %d using 1:2 with lines title %q", data, block, strings.ReplaceAll(title, `"`, "'")))
				block++
			}
		}
		if len(plots) == 0 {
			continue
		}
		os.WriteFile(data, []byte(dat.String()), 0o600)
		png := filepath.Join(dir, fmt.Sprintf("%02d-%s.png", p.ID, strings.Trim(unsafe.ReplaceAllString(strings.ToLower(p.Title), "-"), "-")))
		script := fmt.Sprintf("set terminal png size 800,400 noenhanced\nset output %q\nset title %q\nset xlabel 'seconds into the test'\nset ylabel %q\nset key outside below\nset datafile missing 'NaN'\nplot %s\n",
			png, p.Title, p.FieldConfig.Defaults.Unit, strings.Join(plots, ", "))
		cmd := exec.Command(gnuplot)
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("gnuplot %q: %v\n%s", p.Title, err, out)
		}
	}
	t.Logf("panels rendered in %s", dir)
}

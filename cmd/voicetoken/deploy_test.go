package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"voicetoken/internal/server"
)

type container struct {
	Name string
	Args []string
}

// TestKubernetesScrapeAnnotations: every pod that asks Prometheus to
// scrape it (prometheus.io/port) has a container serving metrics on that
// port on the pod IP, not on loopback, where a scrape would never reach;
// a proxy's --listen stays on loopback.
func TestKubernetesScrapeAnnotations(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "deploy", "kubernetes", "*.yaml"))
	scraped := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc struct {
				Kind string
				Spec struct {
					Template struct {
						Metadata struct{ Annotations map[string]string }
						Spec     struct {
							InitContainers []container `yaml:"initContainers"`
							Containers     []container
						}
					}
				}
			}
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			port := doc.Spec.Template.Metadata.Annotations["prometheus.io/port"]
			if doc.Kind != "Deployment" || port == "" {
				continue
			}
			scraped++
			found := false
			for _, c := range append(doc.Spec.Template.Spec.InitContainers, doc.Spec.Template.Spec.Containers...) {
				for _, a := range c.Args {
					name, val, _ := strings.Cut(a, "=")
					switch name {
					case "--metrics", "--metrics-addr", "--addr":
						_, p, err := net.SplitHostPort(val)
						if err != nil || p != port {
							continue
						}
						found = true
						if server.IsLoopbackAddr(val) {
							t.Errorf("%s: %s serves metrics on %s: Prometheus scrapes the pod IP", f, c.Name, val)
						}
					case "--listen":
						if !server.IsLoopbackAddr(val) {
							t.Errorf("%s: %s: proxy --listen %s must be loopback", f, c.Name, val)
						}
					}
				}
			}
			if !found {
				t.Errorf("%s: annotated prometheus.io/port %s, but no container serves metrics there", f, port)
			}
		}
	}
	if scraped < 3 {
		t.Errorf("%d scraped Deployments in deploy/kubernetes; want serve, the proxy sidecar and check --watch", scraped)
	}
}

// unitOptions reads a systemd unit's Key=Value lines, repeated keys
// joined by newlines.
func unitOptions(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		if out[k] != "" {
			v = out[k] + "\n" + v
		}
		out[k] = v
	}
	return out
}

// TestSystemdUnits: the proxy, run and check --watch units reload with
// SIGHUP and carry every hardening option of the serve unit; and
// scripts/systemd-verify.sh (systemd-analyze verify) passes where
// systemd-analyze exists.
func TestSystemdUnits(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy")
	serve := unitOptions(t, filepath.Join(dir, "voicetoken.service"))
	hardening := []string{"NoNewPrivileges", "CapabilityBoundingSet", "AmbientCapabilities", "ProtectSystem", "ProtectHome",
		"PrivateTmp", "PrivateDevices", "ProtectHostname", "ProtectClock", "ProtectKernelTunables", "ProtectKernelModules",
		"ProtectKernelLogs", "ProtectControlGroups", "ProtectProc", "ProcSubset", "RestrictAddressFamilies", "RestrictNamespaces",
		"RestrictRealtime", "RestrictSUIDSGID", "LockPersonality", "MemoryDenyWriteExecute", "RemoveIPC", "UMask",
		"SystemCallArchitectures", "SystemCallFilter"}
	tests := []struct {
		unit, command string
	}{
		{unit: "voicetoken-proxy.service", command: "voicetoken proxy "},
		{unit: "voicetoken-agent.service", command: "voicetoken run "},
		{unit: "voicetoken-check.service", command: "voicetoken check --watch "},
	}
	for _, tt := range tests {
		t.Run(tt.unit, func(t *testing.T) {
			u := unitOptions(t, filepath.Join(dir, tt.unit))
			if !strings.Contains(u["ExecStart"], tt.command) {
				t.Errorf("ExecStart %q does not run %q", u["ExecStart"], tt.command)
			}
			if u["ExecReload"] != "/bin/kill -HUP $MAINPID" {
				t.Errorf("ExecReload = %q, want /bin/kill -HUP $MAINPID", u["ExecReload"])
			}
			for _, k := range hardening {
				if u[k] != serve[k] {
					t.Errorf("%s=%q, voicetoken.service has %q", k, u[k], serve[k])
				}
			}
		})
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze not installed: units not verified")
		return
	}
	if testing.Short() {
		return
	}
	out, err := exec.Command("bash", filepath.Join("..", "..", "scripts", "systemd-verify.sh")).CombinedOutput()
	if err != nil {
		t.Errorf("scripts/systemd-verify.sh: %v\n%s", err, out)
	}
}

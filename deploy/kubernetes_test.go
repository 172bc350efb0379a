package deploy_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"regexp"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestKubernetesManifests: the Deployment runs the image the repository
// builds (named as kustomization.yaml's images: entry, so a user's
// override applies), as the Containerfile's numeric user, locked down,
// with requests and probes.
func TestKubernetesManifests(t *testing.T) {
	var kust struct {
		Resources []string
		Images    []struct {
			Name    string
			NewName string `yaml:"newName"`
			NewTag  string `yaml:"newTag"`
		}
	}
	readYAML(t, "kubernetes/kustomization.yaml", &kust)
	if len(kust.Images) != 1 || kust.Images[0].NewName == "" {
		t.Fatalf("kustomization images: %+v, want one entry the user overrides", kust.Images)
	}
	type probe struct {
		HTTPGet *struct {
			Path string
			Port any
		} `yaml:"httpGet"`
	}
	var dep struct {
		Kind string
		Spec struct {
			Template struct {
				Spec struct {
					SecurityContext struct {
						RunAsNonRoot bool  `yaml:"runAsNonRoot"`
						RunAsUser    int64 `yaml:"runAsUser"`
						RunAsGroup   int64 `yaml:"runAsGroup"`
					} `yaml:"securityContext"`
					Containers []struct {
						Name, Image     string
						LivenessProbe   *probe `yaml:"livenessProbe"`
						ReadinessProbe  *probe `yaml:"readinessProbe"`
						StartupProbe    *probe `yaml:"startupProbe"`
						Resources       struct{ Requests map[string]string }
						SecurityContext struct {
							AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
							ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
							Capabilities             struct{ Drop []string }
						} `yaml:"securityContext"`
					}
				}
			}
		}
	}
	b, err := os.ReadFile("kubernetes/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		var kind struct{ Kind string }
		doc.Decode(&kind)
		if kind.Kind == "Deployment" {
			if err := doc.Decode(&dep); err != nil {
				t.Fatal(err)
			}
		}
	}
	if dep.Kind != "Deployment" || len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("no Deployment with one container in deployment.yaml")
	}
	pod, c := dep.Spec.Template.Spec, dep.Spec.Template.Spec.Containers[0]
	if c.Image != kust.Images[0].Name {
		t.Errorf("container image %q is not kustomization's images name %q: an override would not apply", c.Image, kust.Images[0].Name)
	}
	user := containerfileUser(t)
	if !pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.RunAsUser != user || pod.SecurityContext.RunAsGroup != user {
		t.Errorf("pod securityContext %+v, want runAsNonRoot and the Containerfile's user %d", pod.SecurityContext, user)
	}
	sc := c.SecurityContext
	if !sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container securityContext %+v", sc)
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" {
		t.Errorf("resource requests %v", c.Resources.Requests)
	}
	for name, p := range map[string]*probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
		if p == nil || p.HTTPGet == nil || (p.HTTPGet.Path != "/healthz" && p.HTTPGet.Path != "/readyz") {
			t.Errorf("%s probe %+v", name, p)
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// containerfileUser is the numeric user of the repository's Containerfile.
func containerfileUser(t *testing.T) int64 {
	b, err := os.ReadFile("../Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^USER (\d+):(\d+)$`).FindSubmatch(b)
	if m == nil || string(m[1]) != string(m[2]) {
		t.Fatalf("Containerfile has no numeric USER uid:gid")
	}
	var n int64
	for _, d := range m[1] {
		n = n*10 + int64(d-'0')
	}
	return n
}

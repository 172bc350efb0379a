// Package kubernetes holds the manifests; its test checks them without a
// cluster or kubectl (CI also runs kustomize build: scripts/check-manifests.sh).
package kubernetes

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// object is the part of a manifest this test reads.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Spec      map[string]any `yaml:"spec"`
	Resources []string       `yaml:"resources"`
	Patches   []struct {
		Path string `yaml:"path"`
	} `yaml:"patches"`
}

func decodeAll(t *testing.T, path string) []object {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []object
	for {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, o)
	}
}

// get walks m by keys and list indexes (int).
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestManifests(t *testing.T) {
	byKind := map[string][]object{}
	for _, dir := range []string{".", "redis"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, f := range files {
			for _, o := range decodeAll(t, f) {
				if o.APIVersion == "" || o.Kind == "" {
					t.Errorf("%s: a document without apiVersion or kind", f)
					continue
				}
				if o.Kind == "Kustomization" {
					for _, r := range append(o.Resources, func() (p []string) {
						for _, x := range o.Patches {
							p = append(p, x.Path)
						}
						return p
					}()...) {
						if _, err := os.Stat(filepath.Join(dir, r)); err != nil {
							t.Errorf("%s names %s: %v", f, r, err)
						}
					}
					continue
				}
				if o.Metadata.Name == "" {
					t.Errorf("%s: %s without a name", f, o.Kind)
				}
				if o.Kind != "Namespace" && o.Metadata.Namespace != "voicetoken" {
					t.Errorf("%s: %s/%s in namespace %q, want voicetoken", f, o.Kind, o.Metadata.Name, o.Metadata.Namespace)
				}
				byKind[filepath.Base(f)+":"+o.Kind] = append(byKind[filepath.Base(f)+":"+o.Kind], o)
			}
		}
	}
	one := func(key string) object {
		t.Helper()
		if len(byKind[key]) != 1 {
			t.Fatalf("want one %s, have %d", key, len(byKind[key]))
		}
		return byKind[key][0]
	}
	ha := one("ha.yaml:Deployment")
	if r := get(ha.Spec, "replicas"); r != 3 {
		t.Errorf("ha.yaml replicas %v, want 3", r)
	}
	if k := get(ha.Spec, "template", "spec", "topologySpreadConstraints", 0, "topologyKey"); k != "kubernetes.io/hostname" {
		t.Errorf("ha.yaml: first topology spread key %v, want kubernetes.io/hostname", k)
	}
	env := get(ha.Spec, "template", "spec", "containers", 0, "env", 0)
	if get(env, "name") != "VOICETOKEN_REDIS_URL" || get(env, "valueFrom", "secretKeyRef", "optional") != true {
		t.Errorf("ha.yaml: want VOICETOKEN_REDIS_URL from an optional Secret, have %v", env)
	}
	hpa := one("hpa.yaml:HorizontalPodAutoscaler")
	if m, ok := get(hpa.Spec, "minReplicas").(int); !ok || m < 3 {
		t.Errorf("HPA minReplicas %v, want at least 3", get(hpa.Spec, "minReplicas"))
	}
	if get(hpa.Spec, "metrics", 0, "resource", "name") != "cpu" || get(hpa.Spec, "scaleTargetRef", "name") != "voicetoken" {
		t.Errorf("HPA %v: want CPU on deployment voicetoken", hpa.Spec)
	}
	pdb := one("deployment.yaml:PodDisruptionBudget")
	if m, ok := get(pdb.Spec, "minAvailable").(int); !ok || m < 1 || m >= 3 {
		t.Errorf("PDB minAvailable %v: want 1..2 of 3 replicas, so a node drain can proceed", get(pdb.Spec, "minAvailable"))
	}
	one("deployment.yaml:Service")
	one("redis.yaml:Service")
	// The probe port and the volumes the reload relies on.
	dep := one("deployment.yaml:Deployment")
	if get(dep.Spec, "template", "spec", "volumes", 0, "secret", "secretName") != "voicetoken-keys" {
		t.Errorf("deployment: keys not from the voicetoken-keys Secret")
	}
}

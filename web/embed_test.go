package web_test

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"voicetoken/web"
)

// TestAssetsHasThePage checks that the embedded bundle is complete: every
// file index.html refers to is embedded beside it.
func TestAssetsHasThePage(t *testing.T) {
	assets := web.Assets()
	index, err := fs.ReadFile(assets, "index.html")
	if err != nil {
		t.Fatalf("index.html is not at the root of web.Assets(): %v", err)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(string(index), -1)
	want := map[string]bool{"app.js": false, "style.css": false}
	for _, m := range refs {
		ref := m[1]
		if strings.Contains(ref, "://") || strings.HasPrefix(ref, "//") || strings.HasPrefix(ref, "data:") {
			t.Errorf("index.html loads %q from elsewhere; the page must load only its own files", ref)
			continue
		}
		if _, err := fs.Stat(assets, strings.TrimPrefix(ref, "/")); err != nil {
			t.Errorf("index.html refers to %q, which is not embedded: %v", ref, err)
		}
		if _, ok := want[ref]; ok {
			want[ref] = true
		}
	}
	for name, seen := range want {
		if !seen {
			t.Errorf("index.html does not load %s", name)
		}
	}
}

// TestPageNeedsNoUnsafeCSP checks the rules that let the page run under
// `Content-Security-Policy: script-src 'self'; style-src 'self'`: no inline
// script, no inline event handler, no inline style, no javascript: URL.
func TestPageNeedsNoUnsafeCSP(t *testing.T) {
	index, err := fs.ReadFile(web.Assets(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	page := string(index)
	tests := []struct {
		name    string
		pattern string
	}{
		{name: "event handler attribute", pattern: `(?i)<[^>]+\son[a-z]+\s*=`},
		{name: "style attribute", pattern: `(?i)<[^>]+\sstyle\s*=`},
		{name: "style element", pattern: `(?i)<style[\s>]`},
		{name: "javascript: URL", pattern: `(?i)javascript:`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m := regexp.MustCompile(tt.pattern).FindString(page); m != "" {
				t.Errorf("index.html has %s: %.80q", tt.name, m)
			}
		})
	}
	t.Run("inline script", func(t *testing.T) {
		scripts := regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`).FindAllStringSubmatch(page, -1)
		if len(scripts) == 0 {
			t.Fatal("index.html has no script tag")
		}
		for _, m := range scripts {
			if !regexp.MustCompile(`\ssrc="[^"]+"`).MatchString(m[1]) || strings.TrimSpace(m[2]) != "" {
				t.Errorf("index.html has an inline script: %.80q", m[0])
			}
		}
	})
}

// TestBundleCarriesNoToken guards the point of the page: no token is ever
// built into it (the seed's page had `const TOKEN = 'eyJ...'`).
func TestBundleCarriesNoToken(t *testing.T) {
	jwt := regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}`)
	err := fs.WalkDir(web.Assets(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(web.Assets(), path)
		if err != nil {
			return err
		}
		if jwt.Match(b) {
			t.Errorf("%s contains a JWT", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

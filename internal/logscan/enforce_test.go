package logscan_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// exempt lists test files that build a logger or an httptest server or
// recorder without scanning it, each with the reason. Keep it short: a
// new entry needs a reason a reviewer accepts.
var exempt = map[string]string{
	"internal/server/bench_internal_test.go": "benchmark: logs go to io.Discard, nothing is kept to scan",
	"internal/server/accesslog_test.go":      "unit test of the access-log encoder against slog's rendering, with fixed fake values",
	"internal/server/fuzz_test.go":           "fuzz targets: a Logs per input would dominate the run; FuzzHandler asserts 4xx JSON instead",
	"internal/upstream/fake_test.go":         "the fake upstream platform: its own answers are not voicetoken output",
	"internal/upstream/example_test.go":      "Example functions have no *testing.T to fail",
	"internal/check/fuzz_test.go":            "fuzz targets",
}

// producers are the calls that make a test produce output worth scanning.
var producers = map[string]bool{
	"slog.New": true, "httptest.NewServer": true, "httptest.NewUnstartedServer": true,
	"httptest.NewTLSServer": true, "httptest.NewRecorder": true,
}

// TestEveryTestUsesLogscan walks the module's _test.go files and fails
// for each one that builds a logger (slog.New) or an httptest server or
// recorder but does not use logscan: neither imports it nor calls a
// helper of its package that does (directly or through other helpers).
func TestEveryTestUsesLogscan(t *testing.T) {
	root := moduleRoot(t)
	type file struct {
		rel     string
		pkgDir  string
		ast     *ast.File
		imports bool
		produce []string
	}
	var files []*file
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p == root {
				return nil
			}
			if rel, _ := filepath.Rel(root, p); !strings.HasPrefix(rel, "internal") && !strings.HasPrefix(rel, "cmd") {
				return filepath.SkipDir // voicetoken itself; bench/ holds load tools, not the product
			}
			switch d.Name() {
			case "node_modules", "testdata", "vendor", ".git":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi := &file{rel: filepath.ToSlash(rel), pkgDir: filepath.Dir(p), ast: f}
		for _, im := range f.Imports {
			if path, _ := strconv.Unquote(im.Path.Value); path == "voicetoken/internal/logscan" {
				fi.imports = true
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if x, ok := sel.X.(*ast.Ident); ok && producers[x.Name+"."+sel.Sel.Name] {
					fi.produce = append(fi.produce, x.Name+"."+sel.Sel.Name)
				}
			}
			return true
		})
		files = append(files, fi)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// helpers[dir+package] is the set of package-level names whose
	// declaration uses logscan or another helper, to a fixed point.
	type decl struct {
		name string
		node ast.Node
	}
	decls := map[string][]decl{}
	key := func(f *file) string { return f.pkgDir + "|" + f.ast.Name.Name }
	for _, f := range files {
		for _, d := range f.ast.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					decls[key(f)] = append(decls[key(f)], decl{d.Name.Name, d})
				} else {
					decls[key(f)] = append(decls[key(f)], decl{"method " + d.Name.Name, d})
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.ValueSpec:
						for _, n := range s.Names {
							decls[key(f)] = append(decls[key(f)], decl{n.Name, s})
						}
					case *ast.TypeSpec:
						decls[key(f)] = append(decls[key(f)], decl{s.Name.Name, s})
					}
				}
			}
		}
	}
	uses := func(n ast.Node, helpers map[string]bool) bool {
		found := false
		ast.Inspect(n, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok && x.Name == "logscan" {
					found = true
				}
				if helpers["method "+n.Sel.Name] {
					found = true
				}
			case *ast.Ident:
				if helpers[n.Name] {
					found = true
				}
			}
			return !found
		})
		return found
	}
	helpers := map[string]map[string]bool{}
	for k, ds := range decls {
		h := map[string]bool{}
		for changed := true; changed; {
			changed = false
			for _, d := range ds {
				if !h[d.name] && uses(d.node, h) {
					h[d.name], changed = true, true
				}
			}
		}
		helpers[k] = h
	}

	var bad []string
	checked := 0
	for _, f := range files {
		if len(f.produce) == 0 {
			continue
		}
		checked++
		if _, ok := exempt[f.rel]; ok {
			continue
		}
		if f.imports || uses(f.ast, helpers[key(f)]) {
			continue
		}
		bad = append(bad, f.rel+" ("+strings.Join(dedupe(f.produce), ", ")+")")
	}
	for rel := range exempt {
		if _, err := os.Stat(filepath.Join(root, rel)); err != nil {
			t.Errorf("exempt file %s does not exist: remove it from the list", rel)
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Errorf("%s produces logs or HTTP answers without logscan: use logscan.New(t) and route them through it, or add the file to exempt with a reason", b)
	}
	t.Logf("ADVERSARIAL scenario=secrets-helper-enforced tried=test-files-that-log-or-serve-http times=%d held=%d failed=%d", checked, checked-len(bad), len(bad))
}

func dedupe(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

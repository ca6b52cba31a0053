package catalog

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hardend/hardend/internal/check"
	"github.com/hardend/hardend/internal/policy"
)

// repoRoot is the repository root, two levels above this package.
var repoRoot = filepath.Join("..", "..")

var idPattern = regexp.MustCompile(`\bHD-[A-Z]+-[0-9]{3}\b`)

func TestRegistryWellFormed(t *testing.T) {
	defs := All()
	if len(defs) == 0 {
		t.Log("no area package is wired into All() yet (see the TODOs in catalog.go)")
	}
	seen := map[string]bool{}
	lastByArea := map[string]string{}
	for _, d := range defs {
		if seen[d.ID] {
			t.Errorf("%s: defined twice", d.ID)
		}
		seen[d.ID] = true
		if !regexp.MustCompile(`^HD-(VIRT|KERN|DMN|CTR|NET)-[0-9]{3}$`).MatchString(d.ID) {
			t.Errorf("%s: not an ID of the form HD-{VIRT,KERN,DMN,CTR,NET}-NNN", d.ID)
		}
		area := areaOf(d.ID)
		if area == "" || d.Area != area {
			t.Errorf("%s: area %q, want %q (the area that owns its prefix)", d.ID, d.Area, area)
		}
		if strings.TrimSpace(d.Title) == "" {
			t.Errorf("%s: empty title", d.ID)
		}
		if d.Severity < check.Info || d.Severity > check.Critical {
			t.Errorf("%s: severity %v out of range", d.ID, d.Severity)
		}
		if Subject(d) == "" {
			t.Errorf("%s: no subject kind", d.ID)
		}
		if last := lastByArea[d.Area]; last != "" && d.ID < last {
			t.Errorf("%s comes after %s: keep each area's Definitions in ID order", d.ID, last)
		}
		lastByArea[d.Area] = d.ID
	}
	for id := range subjectExceptions {
		if len(defs) > 0 && !seen[id] && wired(defs)[areaOf(id)] {
			t.Errorf("subjectExceptions names %s, which is not defined", id)
		}
	}
}

func TestAllReturnsACopy(t *testing.T) {
	a := All()
	if len(a) == 0 {
		t.Skip("registry empty: no area package wired yet")
	}
	a[0].ID = "changed"
	if All()[0].ID == "changed" {
		t.Error("All() returned the registry's own backing array")
	}
}

// TestGeneratedDocsUpToDate fails when docs/checks.md or docs/hardend.8 differs
// from what the registry and docs/*.md generate.
func TestGeneratedDocsUpToDate(t *testing.T) {
	files, err := Generate(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(repoRoot, name))
		if err != nil {
			t.Errorf("%s: %v; run `%s` from the repository root", name, err, GenerateCommand)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date with the code; run `%s` from the repository root and commit the result (-want +got):\n%s",
				name, GenerateCommand, cmp.Diff(string(want), string(got)))
		}
	}
}

// TestDocsNameOnlyDefinedChecks: every check ID the docs, README, changelog or
// packaging mention exists in the code (a typo in an ID is a broken promise to
// users who copy it into an exemption), and every ID in the code is in
// docs/checks.md.
func TestDocsNameOnlyDefinedChecks(t *testing.T) {
	defs := All()
	defined := map[string]bool{}
	for _, d := range defs {
		defined[d.ID] = true
	}
	areas := wired(defs)
	var files []string
	for _, glob := range []string{"docs/*.md", "docs/*.8", "README.md", "CHANGELOG.md", "packaging/*", "packaging/*/*"} {
		m, err := filepath.Glob(filepath.Join(repoRoot, glob))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	unwired := map[string]bool{}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || st.IsDir() {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range idPattern.FindAllString(string(b), -1) {
			if !areas[areaOf(id)] {
				unwired[areaOf(id)+" ("+id+")"] = true
				continue
			}
			if !defined[id] {
				t.Errorf("%s mentions %s, which no package defines", f, id)
			}
		}
	}
	if len(unwired) > 0 {
		t.Logf("not checked, area not wired into the registry yet: %v", slices.Sorted(maps.Keys(unwired)))
	}
	checks, err := os.ReadFile(filepath.Join(repoRoot, ChecksPath))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range defs {
		if !bytes.Contains(checks, []byte("| "+d.ID+" |")) {
			t.Errorf("%s is defined in code but not listed in %s; run `%s`", d.ID, ChecksPath, GenerateCommand)
		}
	}
}

// TestDesignContract compares the registry with the design catalogue
// (../shared/design/CHECKS.md beside the repository, where the team and CI keep
// it): every ID there exists in code with the same subject and default severity.
// Code may define more checks than the design lists (new ones are added freely);
// those are logged.
func TestDesignContract(t *testing.T) {
	path := filepath.Join(repoRoot, "..", "shared", "design", "CHECKS.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("design catalogue not found beside the repository (%v)", err)
	}
	design := parseDesignTable(b)
	if len(design) < 30 {
		t.Fatalf("%s: parsed only %d rows; has the table's format changed?", path, len(design))
	}
	defs := All()
	areas := wired(defs)
	byID := map[string]check.Definition{}
	for _, d := range defs {
		byID[d.ID] = d
	}
	for _, row := range design {
		if !areas[areaOf(row.ID)] {
			continue
		}
		d, ok := byID[row.ID]
		if !ok {
			t.Errorf("%s is in the design catalogue but no package defines it", row.ID)
			continue
		}
		if got := Subject(d); got != row.Subject {
			t.Errorf("%s: subject %q, design says %q", row.ID, got, row.Subject)
		}
		if sev, err := check.ParseSeverity(row.Severity); err == nil && sev != d.Severity {
			t.Errorf("%s: default severity %v, design says %v", row.ID, d.Severity, sev)
		}
	}
	inDesign := map[string]bool{}
	for _, row := range design {
		inDesign[row.ID] = true
	}
	for _, d := range defs {
		if !inDesign[d.ID] {
			t.Logf("%s is defined in code but not (yet) in the design catalogue", d.ID)
		}
	}
}

type designRow struct{ ID, Subject, Severity string }

// parseDesignTable reads the rows of CHECKS.md's table: | **ID** | subject | fails
// when | severity | ...
func parseDesignTable(b []byte) []designRow {
	var rows []designRow
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 6 {
			continue
		}
		id := strings.Trim(strings.TrimSpace(cells[1]), "*")
		if !idPattern.MatchString(id) {
			continue
		}
		rows = append(rows, designRow{ID: id, Subject: strings.TrimSpace(cells[2]), Severity: strings.TrimSpace(cells[4])})
	}
	return rows
}

func TestParseDesignTable(t *testing.T) {
	in := "| ID | subject | fails when | default severity |\n|---|---|---|---|\n" +
		"| **HD-VIRT-001** | host | shared | critical | x | y |\n" +
		"| HD-KERN-002 | host | old | critical/medium | | |\n" +
		"not a row\n"
	want := []designRow{{"HD-VIRT-001", "host", "critical"}, {"HD-KERN-002", "host", "critical/medium"}}
	if diff := cmp.Diff(want, parseDesignTable([]byte(in))); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

// TestPolicyKeysDocumented: every key of the policy file (from the Go struct's
// yaml tags) is described in docs/policy.md as `path.to.key`.
func TestPolicyKeysDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "policy.md"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, k := range yamlKeys(reflect.TypeOf(policy.Policy{}), "") {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	if len(keys) < 10 {
		t.Fatalf("found only %d policy keys: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !bytes.Contains(doc, []byte("`"+k+"`")) {
			t.Errorf("policy key %s is not documented in docs/policy.md (write it as `%s`)", k, k)
		}
	}
}

// yamlKeys lists the dotted key paths of a YAML-decoded struct, lists as name[];
// the keys of an inline struct (a selector) are listed bare, as docs/policy.md
// describes them once for every place they appear.
func yamlKeys(typ reflect.Type, prefix string) []string {
	var keys []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if opts == "inline" {
			// Inline structs (the selector) are documented once, by their own keys.
			for _, k := range yamlKeys(ft, "") {
				if !slices.Contains(keys, k) {
					keys = append(keys, k)
				}
			}
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		key := prefix + name
		keys = append(keys, key)
		switch {
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			keys = append(keys, yamlKeys(ft.Elem(), key+"[].")...)
		case ft.Kind() == reflect.Struct && hasYAMLFields(ft):
			keys = append(keys, yamlKeys(ft, key+".")...)
		}
	}
	return keys
}

func hasYAMLFields(typ reflect.Type) bool {
	for i := range typ.NumField() {
		if typ.Field(i).Tag.Get("yaml") != "" {
			return true
		}
	}
	return false
}

func TestYAMLKeys(t *testing.T) {
	type Sel struct {
		A string `yaml:"a"`
	}
	type rule struct {
		Sel   `yaml:",inline"`
		Ports []string `yaml:"ports"`
	}
	type doc struct {
		Top   string `yaml:"top"`
		Inner struct {
			Rules []rule `yaml:"rules"`
		} `yaml:"inner"`
		Map map[string]int `yaml:"map"`
	}
	want := []string{"top", "inner", "inner.rules", "a", "inner.rules[].ports", "map"}
	if diff := cmp.Diff(want, yamlKeys(reflect.TypeOf(doc{}), "")); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestSubject(t *testing.T) {
	tests := []struct {
		name string
		def  check.Definition
		want string
	}{
		{"virt is host", check.Definition{ID: "HD-VIRT-001", Area: "virt"}, "host"},
		{"kernel is host", check.Definition{ID: "HD-KERN-003", Area: "kernel"}, "host"},
		{"daemon", check.Definition{ID: "HD-DMN-001", Area: "daemon"}, "daemon"},
		{"container", check.Definition{ID: "HD-CTR-002", Area: "containers"}, "container"},
		{"network default is port", check.Definition{ID: "HD-NET-001", Area: "network"}, "port"},
		{"network exception host", check.Definition{ID: "HD-NET-003", Area: "network"}, "host"},
		{"network exception container", check.Definition{ID: "HD-NET-006", Area: "network"}, "container"},
		{"unknown area", check.Definition{ID: "HD-XYZ-001", Area: "xyz"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Subject(tt.def); got != tt.want {
				t.Errorf("Subject(%s) = %q, want %q", tt.def.ID, got, tt.want)
			}
		})
	}
}

func TestMarkdown(t *testing.T) {
	defs := []check.Definition{
		{ID: "HD-VIRT-001", Area: "virt", Title: "shared | kernel", Severity: check.Critical, References: []string{"guide §3", "x"}},
		{ID: "HD-NET-003", Area: "network", Title: "jump missing", Severity: check.High},
		{ID: "HD-ZZZ-001", Area: "zzz", Title: "odd", Severity: check.Low},
	}
	got := string(Markdown(defs))
	for _, want := range []string{
		"| HD-VIRT-001 | host | critical | shared \\| kernel | guide §3; x |\n",
		"| HD-NET-003 | host | high | jump missing |   |\n",
		"## Kernel (HD-KERN-*)\n\nNo checks registered yet.\n",
		"## Other\n",
		"| HD-ZZZ-001 | zzz | low | odd |   |\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Markdown output lacks %q:\n%s", want, got)
		}
	}
}

// areaOf maps an ID's prefix to the area that owns it.
func areaOf(id string) string {
	for _, a := range areas {
		if strings.HasPrefix(id, a.Prefix) {
			return a.Area
		}
	}
	return ""
}

// wired is the set of areas with at least one registered definition: docs
// mentioning an area whose package is not wired in yet are not errors.
func wired(defs []check.Definition) map[string]bool {
	m := map[string]bool{}
	for _, d := range defs {
		m[d.Area] = true
	}
	return m
}

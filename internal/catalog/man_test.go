package catalog

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hardend/hardend/internal/check"
)

func TestMdToRoff(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"heading and paragraph", "# hardend virt\n\nPrints the\ntechnology.\n",
			".SH \"hardend virt\"\n.PP\nPrints the technology.\n"},
		{"subsection", "## Exit status\n", ".SS \"Exit status\"\n"},
		{"inline code keeps hyphens as \\-", "Use `--root DIR` here.\n",
			".PP\nUse \\fB\\-\\-root DIR\\fR here.\n"},
		{"bold italic link", "**B** *i* [policy](policy.md) [s](https://x.example/a)\n",
			".PP\n\\fBB\\fR \\fIi\\fR policy s <https://x.example/a>\n"},
		{"tagged option", "- `--vm`: only VMs,\n  really.\n",
			".TP\n\\fB\\-\\-vm\\fR\nonly VMs, really.\n"},
		{"two tags", "- `a` and `b`: both\n", ".TP\n\\fBa\\fR and \\fBb\\fR\nboth\n"},
		{"bullet", "- plain item\n- second\n", ".IP \\(bu 2\nplain item\n.IP \\(bu 2\nsecond\n"},
		{"ordered", "1. first\n2. second\n", ".IP 1. 4\nfirst\n.IP 2. 4\nsecond\n"},
		{"code block escapes", "```\n.not a request\nback\\slash --flag\n```\n",
			".PP\n.RS 4\n.nf\n\\&.not a request\nback\\eslash \\-\\-flag\n.fi\n.RE\n.PP\n"},
		{"text starting with a dot", "`.SH` is\n", ".PP\n\\fB.SH\\fR is\n"},
		{"comment dropped", "<!-- x\ny -->\ntext\n", ".PP\ntext\n"},
		{"em dash", "a — b\n", ".PP\na \\(em b\n"},
		{"quotes in heading", "# say \"hi\"\n", ".SH \"say \"\"hi\"\"\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := mdToRoff(&b, []byte(tt.in)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestMdToRoffRefuses(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"table", "| a | b |\n", "tables are not supported"},
		{"nested list", "- a\n  - b\n", "nested lists"},
		{"h3", "### deep\n", "only # and ##"},
		{"open code block", "```\nx\n", "unterminated code block"},
		{"open comment", "<!-- x\n", "unterminated"},
		{"stray indent", "    indented\n", "indented text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mdToRoff(&bytes.Buffer{}, []byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("mdToRoff(%q) = %v, want an error containing %q", tt.in, err, tt.want)
			}
		})
	}
}

// requests are the only roff requests mdToRoff emits; any other line starting
// with . or ' would mean document text became a request.
var requests = []string{".SH ", ".SS ", ".PP", ".RS ", ".RE", ".nf", ".fi", ".TP", ".IP "}

func checkRequests(t *testing.T, roff string, extra ...string) {
	t.Helper()
	requests := append(slices.Clone(requests), extra...)
	for _, line := range strings.Split(roff, "\n") {
		if !strings.HasPrefix(line, ".") && !strings.HasPrefix(line, "'") {
			continue
		}
		ok := false
		for _, r := range requests {
			if strings.HasPrefix(line, r) {
				ok = true
			}
		}
		if !ok {
			t.Fatalf("text became a roff request: %q", line)
		}
	}
}

func FuzzMdToRoff(f *testing.F) {
	for _, name := range ManSources {
		if b, err := os.ReadFile(filepath.Join(repoRoot, name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("- `--x`: y\n  z\n\n```\n.TH\n'x\n```\n. dot\n' quote\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var b bytes.Buffer
		if err := mdToRoff(&b, in); err != nil {
			return
		}
		checkRequests(t, b.String())
	})
}

// TestManpageRendersCleanly runs the generated page through groff with every
// warning enabled, as man(1) would render it.
func TestManpageRendersCleanly(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("groff not installed (Debian package groff-base, which man-db needs)")
	}
	files, err := Generate(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	page := files[ManPath]
	checkRequests(t, string(page), `.\" `, ".TH ", ".BR ")
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin = bytes.NewReader(page)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("groff -man -ww: %v\n%s", err, out)
	}
}

func TestManpageListsChecks(t *testing.T) {
	defs := []check.Definition{{ID: "HD-CTR-002", Area: "containers", Title: "container is privileged", Severity: check.Critical}}
	page, err := Manpage(nil, defs)
	if err != nil {
		t.Fatal(err)
	}
	want := ".TP\n\\fBHD-CTR-002\\fR (container, critical)\ncontainer is privileged\n"
	if !strings.Contains(string(page), want) {
		t.Errorf("man page lacks %q:\n%s", want, page)
	}
}

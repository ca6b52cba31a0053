package virt

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusDir is the shared virt corpus (virt-what's captures with systemd 252's
// answers), relative to this package.
const corpusDir = "../../../shared/fixtures/virt"

type corpusCase struct {
	name, arch                  string
	hvBit                       bool
	sig                         string
	vm, container, defaultValue string
	sure                        bool
}

func loadCorpus(t *testing.T) []corpusCase {
	t.Helper()
	return loadCases(t, corpusDir)
}

// loadCases reads a cases.tsv (the corpus's format, also used by testdata/).
func loadCases(t *testing.T, dir string) []corpusCase {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "cases.tsv"))
	if os.IsNotExist(err) {
		t.Skipf("virt cases not found at %s (the shared corpus lives in the shared tree next to the repo)", dir)
	}
	if err != nil {
		t.Fatalf("open corpus: %v", err)
	}
	defer f.Close()
	var cases []corpusCase
	sc := bufio.NewScanner(f)
	header := true
	for sc.Scan() {
		if header {
			header = false
			continue
		}
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		col := strings.Split(sc.Text(), "\t")
		if len(col) != 8 {
			t.Fatalf("cases.tsv: want 8 columns, got %d in %q", len(col), sc.Text())
		}
		cases = append(cases, corpusCase{
			name: col[0], arch: col[1], hvBit: col[2] == "1", sig: col[3],
			vm: col[4], container: col[5], defaultValue: col[6], sure: col[7] == "yes",
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read corpus: %v", err)
	}
	if len(cases) == 0 {
		t.Fatal("corpus has no cases")
	}
	return cases
}

// injectedCPUID turns a corpus row into the CPUID a real host would have shown.
//
// The hypervisor-bit column was taken from the captured /proc/cpuinfo "flags",
// which kernels before ~2.6.30 did not print; five captures (bhyve, esx4.1, hyperv,
// rhel5-xen-domU-hvm, upcloud) therefore show bit 0 next to a hypervisor signature.
// A guest only has a leaf 0x40000000 signature to record because its hypervisor
// sets the bit (KVM, Xen HVM, Hyper-V, VMware and bhyve all do), so a non-empty
// signature implies the bit. Read literally (bit clear), systemd 252 would never
// look at the signature and would answer "none" for hyperv and upcloud, whose DMI
// names no hypervisor; TestCorpusLiteralBit shows exactly that.
func injectedCPUID(c corpusCase) *CPUID {
	return &CPUID{Hypervisor: c.hvBit || c.sig != "", Signature: c.sig}
}

// TestCorpus runs Detect over every case of the shared corpus: sure cases must
// match systemd's three answers exactly, unsure ones are logged.
func TestCorpus(t *testing.T) {
	cases := loadCorpus(t)
	matched, sure := 0, 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Detect(Source{Root: filepath.Join(corpusDir, c.name), Arch: c.arch, CPUID: injectedCPUID(c)})
			got := [3]string{d.VM, d.Container, d.Default()}
			want := [3]string{c.vm, c.container, c.defaultValue}
			if c.sure {
				sure++
			}
			if got == want {
				matched++
				return
			}
			msg := "vm/container/default: got %v, want %v\nevidence:\n  %s"
			if c.sure {
				t.Errorf(msg, got, want, strings.Join(d.Evidence, "\n  "))
			} else {
				t.Logf("unsure case differs: "+msg, got, want, strings.Join(d.Evidence, "\n  "))
			}
		})
	}
	t.Logf("corpus: %d of %d cases match (%d marked sure)", matched, len(cases), sure)
}

// TestCorpusLiteralBit documents the corpus's cpuinfo-derived hypervisor bit: taken
// literally, only the two captures whose DMI names no hypervisor change answer.
func TestCorpusLiteralBit(t *testing.T) {
	changed := map[string]string{}
	for _, c := range loadCorpus(t) {
		if c.hvBit || c.sig == "" {
			continue
		}
		d := Detect(Source{Root: filepath.Join(corpusDir, c.name), Arch: c.arch, CPUID: &CPUID{Signature: c.sig}})
		if d.VM != c.vm {
			changed[c.name] = d.VM
		}
	}
	want := map[string]string{"hyperv": "none", "upcloud": "none"}
	if len(changed) != len(want) || changed["hyperv"] != "none" || changed["upcloud"] != "none" {
		t.Errorf("with the literal bit, changed answers = %v, want %v", changed, want)
	}
}

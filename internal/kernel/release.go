package kernel

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hardend/hardend/internal/check"
)

// ltsSeries is kernel.org's table of longterm series and their projected end of
// life (EOL month; a series counts as supported through the end of that month).
// Source: https://www.kernel.org/category/releases.html, with the extensions Greg
// Kroah-Hartman announced in February 2026 (6.12 and 6.18 to Dec 2028); table as
// of 2026-03. 5.4 and 4.19 are kept to show why they no longer count. When kernel.org
// changes the page, change this table (and its date) and nothing else.
var ltsSeries = []ltsEntry{
	{6, 18, 2028, time.December},
	{6, 12, 2028, time.December},
	{6, 6, 2027, time.December},
	{6, 1, 2027, time.December},
	{5, 15, 2026, time.December},
	{5, 10, 2026, time.December},
	{5, 4, 2025, time.December},
	{4, 19, 2024, time.December},
}

// ltsTableDate is when ltsSeries was last checked against kernel.org.
const ltsTableDate = "2026-03"

// minRelease is the oldest kernel Docker supports at all (its documented minimum,
// the RHEL/CentOS 7 kernel); anything older fails critical.
var minRelease = release{Major: 3, Minor: 10}

type ltsEntry struct {
	Major, Minor int
	EOLYear      int
	EOLMonth     time.Month
}

// supportedOn reports whether the series still gets kernel.org fixes on day t.
func (e ltsEntry) supportedOn(t time.Time) bool {
	end := time.Date(e.EOLYear, e.EOLMonth+1, 1, 0, 0, 0, 0, time.UTC)
	return t.Before(end)
}

// oldestSupportedLTS returns the oldest longterm series supported on day t; ok is
// false when every series in the table has passed its EOL (the table is stale).
func oldestSupportedLTS(t time.Time) (e ltsEntry, ok bool) {
	for _, c := range ltsSeries {
		if !c.supportedOn(t) {
			continue
		}
		cr, er := release{Major: c.Major, Minor: c.Minor}, release{Major: e.Major, Minor: e.Minor}
		if !ok || cr.seriesBefore(er) {
			e, ok = c, true
		}
	}
	return e, ok
}

// release is a parsed kernel release ("uname -r"): the upstream version and the
// distribution's local suffix.
type release struct {
	Raw                 string
	Major, Minor, Patch int
	Local               string // everything after the numeric version: "-28-amd64"
}

// series is "major.minor" ("2.6.32" for the 2.6 era, where the third number was
// the series).
func (r release) series() string {
	if r.Major == 2 {
		return fmt.Sprintf("%d.%d.%d", r.Major, r.Minor, r.Patch)
	}
	return fmt.Sprintf("%d.%d", r.Major, r.Minor)
}

// seriesBefore reports whether r's major.minor is older than o's.
func (r release) seriesBefore(o release) bool {
	if r.Major != o.Major {
		return r.Major < o.Major
	}
	return r.Minor < o.Minor
}

// atLeast reports whether r is major.minor or newer (upstream numbering; vendor
// backports are invisible to it).
func (r release) atLeast(major, minor int) bool {
	return !r.seriesBefore(release{Major: major, Minor: minor})
}

var errBadRelease = errors.New("not a kernel release")

// parseRelease parses a kernel release string such as "6.18.44-fc-v1300",
// "5.10.0-28-amd64", "4.18.0-553.el8_10.x86_64" or "2.6.32-042stab145.3". The
// string also names lib/modules/<release> and boot/config-<release>, so anything
// that could escape a directory (a slash, "..") or is not plain text is rejected.
func parseRelease(s string) (release, error) {
	r := release{Raw: s}
	if s == "" || len(s) > 128 {
		return r, fmt.Errorf("%w: length %d", errBadRelease, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			c == '.' || c == '-' || c == '_' || c == '+' || c == '~'
		if !ok {
			return r, fmt.Errorf("%w: %s contains byte %#02x", errBadRelease, printable(s), c)
		}
	}
	if strings.Contains(s, "..") {
		return r, fmt.Errorf("%w: %s contains \"..\"", errBadRelease, printable(s))
	}
	nums := make([]int, 0, 3)
	rest := s
	for len(nums) < 3 {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i > 6 {
			break
		}
		n, _ := strconv.Atoi(rest[:i]) // at most 6 digits: cannot fail
		nums = append(nums, n)
		rest = rest[i:]
		if len(nums) == 3 || !strings.HasPrefix(rest, ".") || len(rest) < 2 || rest[1] < '0' || rest[1] > '9' {
			break
		}
		rest = rest[1:]
	}
	if len(nums) < 2 {
		return r, fmt.Errorf("%w: %s does not start with major.minor", errBadRelease, printable(s))
	}
	r.Major, r.Minor = nums[0], nums[1]
	if len(nums) == 3 {
		r.Patch = nums[2]
	}
	r.Local = rest
	return r, nil
}

var (
	rhelRE   = regexp.MustCompile(`\.el([0-9]+)`)
	openvzRE = regexp.MustCompile(`[0-9]stab[0-9]`)
	vz7RE    = regexp.MustCompile(`\.vz7\.`)
)

// vendorNote says what the version number does not: enterprise kernels keep an old
// upstream base and backport fixes into it.
func (r release) vendorNote() string {
	switch {
	case openvzRE.MatchString(r.Local):
		return "an OpenVZ 6 kernel (Red Hat Enterprise Linux 6 based, fixes backported): one kernel shared by every container on the node, which you cannot upgrade from inside"
	case vz7RE.MatchString(r.Local):
		return "a Virtuozzo/OpenVZ 7 kernel (Red Hat Enterprise Linux 7 based, fixes backported): one kernel shared by every container on the node, which you cannot upgrade from inside"
	}
	if m := rhelRE.FindStringSubmatch(r.Local); m != nil {
		return "a Red Hat Enterprise Linux " + m[1] + " family kernel (RHEL, CentOS, AlmaLinux, Rocky, Oracle RHCK): Red Hat backports fixes into its frozen " +
			r.series() + " base, so the version number understates its patch level; whether it is still maintained is the RHEL " + m[1] + " lifecycle's question, not kernel.org's"
	}
	return ""
}

// readRelease reads proc/sys/kernel/osrelease; only on the live root ("/") does it
// fall back to uname(2), because elsewhere the running kernel is not the tree's.
func readRelease(h hostFS) (raw, source string, err error) {
	const p = "proc/sys/kernel/osrelease"
	b, err := h.readFile(p, limitSmall)
	if err == nil {
		return firstLine(b), p, nil
	}
	if h.live() {
		if u, uerr := unameRelease(); uerr == nil {
			return u, "uname(2)", nil
		}
	}
	return "", p, err
}

// checkRelease is HD-KERN-002.
func checkRelease(rel release, relErr error, source string, now time.Time) check.Result {
	d := defKERN002
	// Name is stable for golden tables and exemptions; ID carries the release so an
	// exemption can name one vendor kernel ("4.18.0-*.el8*") and lapse on upgrade.
	subj := check.Subject{Kind: check.KindHost, Name: "kernel"}
	if relErr != nil {
		return d.Err(subj, "kernel release unknown: "+relErr.Error())
	}
	subj.ID = rel.Raw
	note := rel.vendorNote()
	withNote := func(s string) string {
		if note != "" {
			return s + "; this is " + note
		}
		return s
	}
	if rel.seriesBefore(minRelease) {
		return d.FailAt(check.Critical, subj,
			withNote(fmt.Sprintf("%s: kernel %s (series %s) is older than %s, the oldest kernel Docker supports", source, rel.Raw, rel.series(), minRelease.series())),
			"Run Docker on a kernel of a supported longterm series: a KVM VPS with a current distribution (e.g. Debian 12, Ubuntu 24.04, RHEL 9). "+
				"On a shared-kernel VPS (OpenVZ/Virtuozzo, LXC) you cannot change the kernel: move to a KVM VPS.")
	}
	lts, ok := oldestSupportedLTS(now)
	stale := ""
	if !ok {
		lts, stale = ltsSeries[0], fmt.Sprintf(" (every series in hardend's LTS table of %s has passed its EOL: the table is out of date, compared with the newest entry)", ltsTableDate)
	}
	floor := release{Major: lts.Major, Minor: lts.Minor}
	day := now.Format("2006-01-02")
	if rel.seriesBefore(floor) {
		return d.FailAt(check.Medium, subj,
			withNote(fmt.Sprintf("%s: kernel %s (series %s) is older than %s, the oldest kernel.org longterm series still supported on %s (kernel.org table of %s)%s",
				source, rel.Raw, rel.series(), floor.series(), day, ltsTableDate, stale)),
			fmt.Sprintf("Upgrade to a kernel of series %s or newer (the distribution's current kernel package, e.g. `apt install linux-image-amd64` on Debian, then reboot). "+
				"If a vendor still maintains this kernel (RHEL family), add a policy exemption for HD-KERN-002 with subject %q and expires: set to the vendor's end of support.",
				floor.series(), rel.Raw))
	}
	return d.Pass(subj, withNote(fmt.Sprintf("%s: kernel %s (series %s) is not older than %s, the oldest kernel.org longterm series still supported on %s (kernel.org table of %s)%s",
		source, rel.Raw, rel.series(), floor.series(), day, ltsTableDate, stale)))
}

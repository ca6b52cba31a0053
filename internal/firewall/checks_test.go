package firewall

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hardend/hardend/internal/check"
	"github.com/hardend/hardend/internal/firewall/iptsave"
	"github.com/hardend/hardend/internal/policy"
)

func mustParse(t *testing.T, dump string, fam iptsave.Family) *iptsave.Ruleset {
	t.Helper()
	rs, err := iptsave.Parse([]byte(dump), fam)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestNet003(t *testing.T) {
	const head = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:DOCKER - [0:0]\n:DOCKER-FORWARD - [0:0]\n:DOCKER-INGRESS - [0:0]\n"
	tests := []struct {
		name   string
		v4     string  // filter table body after head; "-" for no dump at all
		docker *Docker // nil: iptables on
		want   check.Status
		text   string
	}{
		{name: "first jump", v4: ":DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n-A FORWARD -j DOCKER-FORWARD\n", want: check.Pass},
		{name: "Docker before 28.2 RETURN noted", v4: ":DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n-A FORWARD -j DOCKER-FORWARD\n-A DOCKER-USER -j RETURN\n", want: check.Pass, text: "never appended"},
		{name: "chain missing", v4: "-A FORWARD -j DOCKER-FORWARD\n", want: check.Fail, text: "no DOCKER-USER chain"},
		{name: "jump missing (FAULTS 2)", v4: ":DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-FORWARD\n", want: check.Fail, text: "no jump to DOCKER-USER"},
		{name: "swarm ingress above it", v4: ":DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-INGRESS\n-A FORWARD -j DOCKER-USER\n", want: check.Fail, text: "not first"},
		{name: "an ACCEPT above it", v4: ":DOCKER-USER - [0:0]\n-A FORWARD -i eth0 -j ACCEPT\n-A FORWARD -j DOCKER-USER\n", want: check.Fail, text: "not first"},
		{name: "an established-only ACCEPT above it is harmless", v4: ":DOCKER-USER - [0:0]\n-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A FORWARD -j DOCKER-USER\n-A FORWARD -j DOCKER-FORWARD\n", want: check.Pass},
		{name: "conditional jump", v4: ":DOCKER-USER - [0:0]\n-A FORWARD -i eth0 -j DOCKER-USER\n-A FORWARD -j DOCKER-FORWARD\n", want: check.Fail, text: "conditional"},
		{name: "rules not read", v4: "-", want: check.Error},
		{name: "iptables false", v4: "", docker: &Docker{IPTables: false, UserlandProxy: true}, want: check.Fail, text: `"iptables": false`},
		{name: "nftables backend", v4: "", docker: &Docker{IPTables: true, FirewallBackend: "nftables"}, want: check.Fail, text: "nftables"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{Docker: Docker{IPTables: true}}
			if tt.docker != nil {
				in.Docker = *tt.docker
			}
			switch tt.v4 {
			case "-":
			case "":
				in.Rules.V4 = mustParse(t, "", iptsave.IPv4)
			default:
				in.Rules.V4 = mustParse(t, head+tt.v4+"COMMIT\n", iptsave.IPv4)
			}
			in.Rules.V6 = mustParse(t, "", iptsave.IPv6)
			res := Net003Results(in)
			if len(res) != 2 || res[0].Subject.ID != "ipv4" || res[1].Subject.ID != "ipv6" {
				t.Fatalf("results %+v", res)
			}
			r := res[0]
			if r.Status != tt.want || !strings.Contains(r.Evidence, tt.text) {
				t.Fatalf("got %s %q, want %s containing %q", r.Status, r.Evidence, tt.want, tt.text)
			}
			if r.Status == check.Fail && !strings.Contains(r.Evidence, "UNPROTECTED") {
				t.Errorf("a failure must say the host is unprotected: %q", r.Evidence)
			}
			if in.Docker.FirewallBackend == "" && res[1].Status != check.Skip {
				t.Errorf("ipv6 with no Docker chains and ip6tables off: %s %q, want skip", res[1].Status, res[1].Evidence)
			}
		})
	}
}

func TestDecideBackend(t *testing.T) {
	docker := "*filter\n:FORWARD ACCEPT [0:0]\n:DOCKER - [0:0]\n:DOCKER-USER - [0:0]\nCOMMIT\n"
	other := "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"
	warn := "# Warning: iptables-legacy tables present, use iptables-legacy-save to see them\n"
	tests := []struct {
		name        string
		legacy, nft string // "-" = not read
		alt         string
		wantDocker  string
		wantOK      bool
		problem     string
	}{
		{"nft only, system nft", other, docker, "nft", "nft", true, ""},
		{"nft only, alternative path", "", docker, "/usr/sbin/iptables-nft", "nft", true, ""},
		{"legacy only, system nft", docker, other, "nft", "legacy", false, "runs iptables-nft"},
		{"nft only, system legacy", "", docker, "legacy", "nft", false, "runs iptables-legacy"},
		{"both", docker, docker, "nft", "both", false, "both"},
		{"neither", other, other, "nft", "neither", false, "neither"},
		{"neither, one unreadable", "-", other, "nft", "unknown", false, "could not be read"},
		{"nft only, legacy not installed", "-", docker, "nft", "nft", true, ""},
		{"nft only, legacy hinted but unreadable", "-", warn + docker, "nft", "unknown", false, "legacy tables"},
		{"nft only, legacy hinted and read empty of Docker", other, warn + docker, "", "nft", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l, n *iptsave.Ruleset
			if tt.legacy != "-" {
				l = mustParse(t, tt.legacy, iptsave.IPv4)
			}
			if tt.nft != "-" {
				n = mustParse(t, tt.nft, iptsave.IPv4)
			}
			d := DecideBackend(l, n, tt.alt)
			if d.Docker != tt.wantDocker || d.OK != tt.wantOK || !strings.Contains(d.Problem, tt.problem) {
				t.Fatalf("got %+v, want docker=%s ok=%v problem~%q", d, tt.wantDocker, tt.wantOK, tt.problem)
			}
			r := Net004Result(Input{Docker: Docker{IPTables: true}}, &d)
			want := map[bool]check.Status{true: check.Pass, false: check.Fail}[d.OK]
			if d.Docker == "unknown" {
				want = check.Error
			}
			if r.Status != want {
				t.Errorf("HD-NET-004 %s, want %s: %s", r.Status, want, r.Evidence)
			}
		})
	}
	if r := Net004Result(Input{Docker: Docker{IPTables: true}}, nil); r.Status != check.Error {
		t.Errorf("no decision: %s, want error", r.Status)
	}
}

// TestPortChecks runs HD-NET-001/002/007 over one container under several
// policies and rule sets.
func TestPortChecks(t *testing.T) {
	internal := []policy.PortRule{{Selector: policy.Selector{Container: "web"}, Ports: []string{"80/tcp"}}}
	public := []policy.PortRule{{Selector: policy.Selector{Container: "web"}, Ports: []string{"8080/tcp"}}}
	tests := []struct {
		name               string
		user               string
		fw                 policy.Firewall
		want001, want007   check.Status
		want002            check.Status
		remediation001     string
		evidence001, sev01 string
	}{
		{name: "internal and public: fails with the exact fix", fw: policy.Firewall{Default: "allow", Internal: internal},
			want001: check.Fail, want002: check.Fail, want007: check.Pass, remediation001: "-p 127.0.0.1:8080:80"},
		{name: "internal, blocked by DOCKER-USER", fw: policy.Firewall{Default: "allow", Internal: internal},
			user:    "-A DOCKER-USER -i eth0 -m conntrack --ctstate NEW -j DROP",
			want001: check.Pass, want002: check.Pass, want007: check.Pass},
		{name: "internal, restricted: medium", fw: policy.Firewall{Default: "allow", Internal: internal},
			user:    "-A DOCKER-USER ! -s 10.0.0.0/8 -j DROP",
			want001: check.Fail, want002: check.Fail, want007: check.Pass, evidence001: "restricted", sev01: "medium"},
		{name: "unlisted under allow: 007", fw: policy.Firewall{Default: "allow"},
			want001: check.Pass, want002: check.Fail, want007: check.Fail},
		{name: "unlisted under deny: 001, with the policy snippet", fw: policy.Firewall{Default: "deny"},
			want001: check.Fail, want002: check.Fail, want007: check.Skip, remediation001: "public:\n    - container: \"web\""},
		{name: "public under deny", fw: policy.Firewall{Default: "deny", Public: public},
			want001: check.Pass, want002: check.Fail, want007: check.Pass},
		{name: "unknown never passes", fw: policy.Firewall{Default: "allow", Internal: internal},
			user:    "-A DOCKER-USER -m time --timestart 09:00 -j RETURN\n-A DOCKER-USER -j DROP",
			want001: check.Error, want002: check.Error, want007: check.Pass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := evalInput(t, dump(tt.user, "", ""))
			in.Policy = tt.fw
			res, _ := Audit(AuditInput{Input: in, Backend: &BackendDecision{Docker: "nft", OK: true}})
			got := map[string]check.Result{}
			for _, r := range res {
				if r.Subject.Kind == check.KindPort {
					got[r.ID] = r
				}
			}
			for id, want := range map[string]check.Status{"HD-NET-001": tt.want001, "HD-NET-002": tt.want002, "HD-NET-007": tt.want007} {
				if got[id].Status != want {
					t.Errorf("%s: %s (%s), want %s", id, got[id].Status, got[id].Evidence, want)
				}
			}
			r := got["HD-NET-001"]
			if !strings.Contains(r.Remediation, tt.remediation001) || !strings.Contains(r.Evidence, tt.evidence001) {
				t.Errorf("HD-NET-001 evidence %q remediation %q", r.Evidence, r.Remediation)
			}
			if tt.sev01 != "" && r.Severity.String() != tt.sev01 {
				t.Errorf("HD-NET-001 severity %s, want %s", r.Severity, tt.sev01)
			}
			want := check.Subject{Kind: "port", ID: "abababababab/8080/tcp/ipv4", Name: "web 0.0.0.0:8080/tcp (ipv4)"}
			if diff := cmp.Diff(want, r.Subject); diff != "" {
				t.Errorf("subject (-want +got)\n%s", diff)
			}
		})
	}
}

func TestPortSubject(t *testing.T) {
	w := &Workload{ID: "0123456789abcdef", Name: "db"}
	tests := []struct {
		pe       PortExposure
		id, name string
	}{
		{PortExposure{Workload: w, Port: Port{HostPort: 5432, ContainerPort: 5432, Proto: "tcp"}, Family: iptsave.IPv6},
			"0123456789ab/5432/tcp/ipv6", "db [::]:5432/tcp (ipv6)"},
		{PortExposure{Workload: w, Port: Port{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 5432, ContainerPort: 5432, Proto: "tcp"}, Family: iptsave.IPv4},
			"0123456789ab/127.0.0.1:5432/tcp/ipv4", "db 127.0.0.1:5432/tcp (ipv4)"},
		{PortExposure{Workload: w, Port: Port{ContainerPort: 80, Proto: "tcp"}, Family: iptsave.IPv4},
			"0123456789ab/routed:80/tcp/ipv4", "db container port 80/tcp (ipv4)"},
		{PortExposure{Workload: w, Port: Port{HostIP: netip.IPv6Unspecified(), HostPort: 53, ContainerPort: 53, Proto: "udp"}, Family: iptsave.IPv4, HostNetwork: true},
			"0123456789ab/host:53/udp/ipv4", "db 0.0.0.0:53/udp (ipv4)"},
	}
	for _, tt := range tests {
		s := PortSubject(&tt.pe)
		if s.ID != tt.id || s.Name != tt.name || s.Kind != "port" {
			t.Errorf("got %+v, want %s %q", s, tt.id, tt.name)
		}
	}
}

func TestNet006(t *testing.T) {
	base := func() Input {
		in := evalInput(t, dump("", "", ""))
		in.Workloads = append(in.Workloads, Workload{ID: strings.Repeat("cd", 32), Name: "node-exporter", NetworkMode: "host", Pid: 4242})
		return in
	}
	t.Run("sockets not read: error", func(t *testing.T) {
		res := Net006Results(Evaluate(base()))
		if len(res) != 1 || res[0].Status != check.Error || !strings.Contains(res[0].Evidence, "pid 4242") {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("public socket: fail with INPUT rules", func(t *testing.T) {
		in := base()
		id := in.Workloads[1].ID
		in.Listeners = []Listener{
			{Addr: netip.IPv4Unspecified(), Port: 9100, Proto: "tcp", ContainerID: id},
			{Addr: netip.MustParseAddr("127.0.0.1"), Port: 9101, Proto: "tcp", ContainerID: id},
		}
		res := Net006Results(Evaluate(in))
		if len(res) != 1 || res[0].Status != check.Fail || !strings.Contains(res[0].Remediation, "iptables -I INPUT -i eth0 -p tcp --dport 9100") ||
			strings.Contains(res[0].Evidence, "9101") {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("blocked by an INPUT rule: pass", func(t *testing.T) {
		in := base()
		in.Rules.V4 = mustParse(t, strings.Replace(dump("", "", ""), ":INPUT ACCEPT [0:0]\n:FORWARD", ":INPUT ACCEPT [0:0]\n:FORWARD", 1)+"", iptsave.IPv4)
		in.Rules.V4.Chain("filter", "INPUT").Policy = "DROP"
		in.Listeners = []Listener{{Addr: netip.IPv4Unspecified(), Port: 9100, Proto: "tcp", ContainerID: in.Workloads[1].ID}}
		res := Net006Results(Evaluate(in))
		if len(res) != 1 || res[0].Status != check.Pass || !strings.Contains(res[0].Evidence, "policy of filter INPUT") {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("only loopback sockets: pass", func(t *testing.T) {
		in := base()
		in.Listeners = []Listener{{Addr: netip.MustParseAddr("127.0.0.1"), Port: 9100, Proto: "tcp", ContainerID: in.Workloads[1].ID}}
		res := Net006Results(Evaluate(in))
		if len(res) != 1 || res[0].Status != check.Pass {
			t.Fatalf("%+v", res)
		}
	})
}

// Every result Audit returns uses this package's Definitions, and a check whose
// evidence cannot be read never passes.
func TestAuditNeverPassesUnread(t *testing.T) {
	in := evalInput(t, dump("", "", ""))
	in.Policy = policy.Firewall{Default: "deny"}
	in.Rules = Rules{}
	res, _ := Audit(AuditInput{Input: in})
	ids := map[string]bool{}
	for _, d := range Definitions {
		ids[d.ID] = true
	}
	for _, r := range res {
		if !ids[r.ID] {
			t.Errorf("result %s is not in Definitions", r.ID)
		}
		if r.Status == check.Pass && r.ID != "HD-NET-007" {
			t.Errorf("%s passed with no rules read: %q", r.ID, r.Evidence)
		}
	}
}

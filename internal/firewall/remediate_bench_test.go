//go:build linux

package firewall

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hardend/hardend/internal/testenv"
)

// Scale (FAULTS 18): 500 published ports, every one blocked by policy, with
// IPv6 networking on (so both families carry port rules). Run by hand:
//
//	go test -run '^$' -bench Remediate -benchtime 20x ./internal/firewall/
//
// Plan is pure; Apply is a full write (one iptables-restore per family, read
// back, byte-for-byte verify, conntrack dump) against a namespace reset before
// every iteration; Verify is the idle reconcile (one read of both families and
// the comparison); Drift is the agent's periodic check.

func scaleInput(n int) PlanInput {
	var ws []Workload
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%012x", 0xa00000000000+i) + "0000000000000000000000000000000000000000000000000000"
		// Ports 20000, 20002, ...: no two adjacent, so no range merges.
		ws = append(ws, workload(id, fmt.Sprintf("svc%d", i), published("", uint16(20000+2*i), 5432, "tcp")))
	}
	d := docker2010
	d.IPv6, d.IP6Tables = true, true
	return PlanInput{Workloads: ws, Interfaces: hostIfaces, Firewall: internalDBs, Docker: d}
}

func BenchmarkRemediatePlan500(b *testing.B) {
	in := scaleInput(500)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewPlan(in); err != nil {
			b.Fatal(err)
		}
	}
	p, _ := NewPlan(in)
	b.ReportMetric(float64(len(p.V4.Chains[0].Rules)), "rules-v4")
	b.ReportMetric(float64(len(p.V6.Chains[0].Rules)+len(p.V6.Chains[1].Rules)), "rules-v6")
}

func benchFixture(b *testing.B, v Variant) (*Backend, *Plan) {
	b.Helper()
	testenv.RequireRoot(b)
	ns := testenv.NewNetns(b)
	for prog, f := range map[string]string{"iptables": "d20.10-ipv6.iptables.txt", "ip6tables": "d20.10-ipv6.ip6tables.txt"} {
		cmd := ns.Command(context.Background(), filepath.Join(DefaultDir, prog+"-"+string(v)+"-restore"), filepath.Join(fixtures, f))
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("load %s: %v: %s", f, err, out)
		}
	}
	be, err := NewBackend(Config{Variant: v, Netns: ns.Path})
	if err != nil {
		b.Fatal(err)
	}
	p, err := NewPlan(scaleInput(500))
	if err != nil {
		b.Fatal(err)
	}
	return be, p
}

func BenchmarkRemediateApply500(b *testing.B) {
	for _, v := range variants {
		b.Run(string(v), func(b *testing.B) {
			be, p := benchFixture(b, v)
			ctx := context.Background()
			for b.Loop() {
				b.StopTimer()
				if _, err := be.Reset(ctx, false); err != nil {
					b.Fatal(err)
				}
				cur, err := be.Read(ctx)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				res, err := be.Apply(ctx, p, cur)
				if err != nil || len(res.Written) != 2 {
					b.Fatalf("apply: %v (wrote %v)", err, res.Written)
				}
			}
		})
	}
}

func BenchmarkRemediateVerify500(b *testing.B) {
	for _, v := range variants {
		b.Run(string(v), func(b *testing.B) {
			be, p := benchFixture(b, v)
			ctx := context.Background()
			if _, err := be.Apply(ctx, p, nil); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				// The idle reconcile: read once, diff, nothing to write.
				res, err := be.Apply(ctx, p, nil)
				if err != nil || len(res.Written) != 0 {
					b.Fatalf("apply: %v (wrote %v)", err, res.Written)
				}
			}
		})
	}
}

func BenchmarkRemediateDrift500(b *testing.B) {
	be, p := benchFixture(b, VariantNFT)
	ctx := context.Background()
	if _, err := be.Apply(ctx, p, nil); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		d, err := be.Drift(ctx, p)
		if err != nil || !d.Clean() {
			b.Fatalf("drift: %+v %v", d, err)
		}
	}
}

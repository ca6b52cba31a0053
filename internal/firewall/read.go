package firewall

import (
	"context"
	"fmt"

	"github.com/hardend/hardend/internal/firewall/iptsave"
)

// Read reads the whole rule set of both families — every table (nat, filter,
// raw, mangle ...) — with one iptables-save and one ip6tables-save: one read per
// scan, which the exposure analysis, HD-NET-005 and Apply's diff all share.
// An unparsable or truncated dump is an error: a partial rule set is never
// evaluated or written against.
func (b *Backend) Read(ctx context.Context) (*Rules, error) {
	r := &Rules{Backend: string(b.cfg.Variant)}
	for _, fam := range []iptsave.Family{iptsave.IPv4, iptsave.IPv6} {
		rs, err := b.readFamily(ctx, fam, "")
		if err != nil {
			return nil, err
		}
		if fam == iptsave.IPv4 {
			r.V4 = rs
		} else {
			r.V6 = rs
		}
	}
	return r, nil
}

// ReadDetected is Read for a backend pinned to d's variant, reusing the IPv4
// dump Detect already read of that variant instead of running iptables-save a
// second time in the same scan; only IPv6 is read.
func (b *Backend) ReadDetected(ctx context.Context, d *Detection) (*Rules, error) {
	v4 := d.Legacy
	if b.cfg.Variant == VariantNFT {
		v4 = d.NFT
	}
	if d.Variant != b.cfg.Variant || v4 == nil {
		return b.Read(ctx)
	}
	v6, err := b.readFamily(ctx, iptsave.IPv6, "")
	if err != nil {
		return nil, err
	}
	return &Rules{Backend: string(b.cfg.Variant), V4: v4, V6: v6}, nil
}

// readFamily reads one family, one table or ("") all of them.
func (b *Backend) readFamily(ctx context.Context, fam iptsave.Family, table string) (*iptsave.Ruleset, error) {
	out, err := b.save(ctx, fam, table)
	if err != nil {
		return nil, fmt.Errorf("read %s rules (%s): %w", fam, b.cfg.Variant, err)
	}
	rs, err := iptsave.Parse(out, fam)
	if err != nil {
		return nil, fmt.Errorf("parse %s rules (%s): %w", fam, b.cfg.Variant, err)
	}
	return rs, nil
}

// family returns the dump of one family.
func (r *Rules) family(f iptsave.Family) *iptsave.Ruleset {
	if r == nil {
		return nil
	}
	if f == iptsave.IPv6 {
		return r.V6
	}
	return r.V4
}

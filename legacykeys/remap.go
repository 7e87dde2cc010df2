package legacykeys

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// RemapRow says: the keys that refer to owner OldExternalID (an external id
// or a principal id, as the import file gave it) belong to NewPrincipal: a
// principal id, or the external id of a principal in the keys' tenant.
type RemapRow struct {
	Line          int    `json:"line"`
	OldExternalID string `json:"old_external_id"`
	NewPrincipal  string `json:"new_principal"`
	// Tenant, when set, confines the row to that tenant: NewPrincipal must
	// be one of its principals (a tenant administrator's remap).
	Tenant  string `json:"tenant,omitempty"`
	Problem string `json:"problem,omitempty"`
}

// ParseRemap reads a remap file: CSV lines old_external_id,new_principal,
// with or without that header line. Bad lines are reported through
// Problem; the error is about the file as a whole, or is fn's.
func ParseRemap(r io.Reader, fn func(RemapRow) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if err := skipBOM(br); err != nil {
		return err
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	first, lastErrLine := true, -1
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if pe.StartLine == lastErrLine {
				return errcode.Wrap(errcode.RequestInvalid, err, fmt.Sprintf("line %d: the CSV cannot be read past this point", pe.StartLine))
			}
			lastErrLine, first = pe.StartLine, false
			if err := fn(RemapRow{Line: pe.StartLine, Problem: "is not valid CSV: " + pe.Err.Error()}); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("legacykeys: read remap file: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if first {
			first = false
			if len(rec) == 2 && strings.EqualFold(strings.TrimSpace(rec[0]), "old_external_id") && strings.EqualFold(strings.TrimSpace(rec[1]), "new_principal") {
				continue
			}
		}
		row := RemapRow{Line: line}
		if len(rec) != 2 {
			row.Problem = fmt.Sprintf("has %d fields; a remap line is old_external_id,new_principal", len(rec))
		} else {
			row.OldExternalID, row.NewPrincipal = strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
			row.Problem = remapProblem(row)
		}
		if err := fn(row); err != nil {
			return err
		}
	}
}

func remapProblem(r RemapRow) string {
	switch {
	case r.OldExternalID == "":
		return "has no old_external_id"
	case r.NewPrincipal == "":
		return "has no new_principal"
	case len(r.OldExternalID) > maxRefLen || len(r.NewPrincipal) > maxRefLen:
		return fmt.Sprintf("has a reference longer than %d bytes", maxRefLen)
	}
	if err := checkText("reference", r.OldExternalID+r.NewPrincipal, 2*maxRefLen); err != nil {
		return errcode.Normalize(err).Text()
	}
	return ""
}

// RemapSummary is what one Remap call did.
type RemapSummary struct {
	Rows         int         `json:"rows"`
	KeysRemapped int         `json:"keys_remapped"`
	Rejected     []Rejection `json:"rejected"`
	DryRun       bool        `json:"dry_run"`
}

// Remap repairs owners after a migration that broke them: every key of
// NewPrincipal's tenant whose owner reference (or owner id) is
// OldExternalID is given to NewPrincipal. It is idempotent (a second run
// remaps nothing) and a dry run counts without writing. Tokens issued for
// a key's previous, existing owner are invalidated, as with Reassign.
func (s *Service) Remap(ctx context.Context, rows []RemapRow, dryRun bool) (RemapSummary, error) {
	sum := RemapSummary{DryRun: dryRun, Rejected: []Rejection{}}
	now := s.clock()
	type job struct {
		row   RemapRow
		owner store.Principal
	}
	var jobs []job
	dir := newDirectory(s.st)
	targets := map[[2]string]*remapTarget{}
	for _, r := range rows {
		sum.Rows++
		if r.Problem == "" {
			r.Problem = remapProblem(r)
		}
		if r.Problem != "" {
			sum.Rejected = append(sum.Rejected, Rejection{Line: r.Line, Reason: r.Problem})
			continue
		}
		memo := [2]string{r.Tenant, r.NewPrincipal}
		t, ok := targets[memo]
		if !ok {
			var err error
			if t, err = s.remapTarget(ctx, dir, r.Tenant, r.NewPrincipal); err != nil {
				return RemapSummary{}, err
			}
			targets[memo] = t
		}
		if t.reason != "" {
			sum.Rejected = append(sum.Rejected, Rejection{Line: r.Line, Reason: t.reason})
			continue
		}
		owner, reason, err := s.remapOwner(ctx, t, r)
		if err != nil {
			return RemapSummary{}, err
		}
		if reason != "" {
			sum.Rejected = append(sum.Rejected, Rejection{Line: r.Line, Reason: reason})
			continue
		}
		jobs = append(jobs, job{row: r, owner: *owner})
	}
	if len(jobs) == 0 {
		return sum, nil
	}
	err := s.st.Tx(ctx, func(tx store.Tx) error {
		var evs []store.AuditEvent
		for _, j := range jobs {
			tenant, old, owner := j.owner.TenantID, j.row.OldExternalID, j.owner.ID
			if err := s.endTokensOfMovedKeys(ctx, tx, tenant, old, owner, now); err != nil {
				return err
			}
			n, err := tx.RemapLegacyKeys(ctx, tenant, old, owner)
			if err != nil {
				return fmt.Errorf("legacykeys: remap keys of %q in tenant %s: %w", old, tenant, err)
			}
			sum.KeysRemapped += int(n)
			if n > 0 {
				evs = append(evs, s.eventOn(ctx, ActionRemap, "principal:"+owner, tenant, map[string]any{
					"owner_ref": old, "owner_id": change{nil, owner}, "keys": n, "line": j.row.Line,
				}))
			}
		}
		if dryRun {
			return errDryRun
		}
		return s.auditAll(ctx, tx, evs...)
	})
	if err != nil && !errors.Is(err, errDryRun) {
		return RemapSummary{}, err
	}
	return sum, nil
}

// remapTarget is what a remap's new_principal names: one principal by id,
// or the live principals that have it as external id (at most one per
// tenant), or the reason it names nothing usable.
type remapTarget struct {
	byID       *store.Principal
	byExternal []*store.Principal
	reason     string
}

// remapTarget resolves new_principal: a principal id first (a remap has
// always accepted one), then an external id among the live principals of
// tenant, or of every tenant when tenant is "".
func (s *Service) remapTarget(ctx context.Context, dir *directory, tenant, ref string) (*remapTarget, error) {
	p, err := s.usableOwner(ctx, s.st, ref)
	_, refused := errcode.As(err)
	switch {
	case err != nil && !refused:
		return nil, err
	case err == nil && (tenant == "" || p.TenantID == tenant):
		return &remapTarget{byID: &p}, nil
	case err != nil && p.ID != "" && (tenant == "" || p.TenantID == tenant):
		return &remapTarget{reason: errcode.Normalize(err).Text()}, nil // deleted
	}
	tenants := []string{tenant}
	if tenant == "" {
		if tenants, err = dir.tenantIDs(ctx); err != nil {
			return nil, err
		}
	}
	t := &remapTarget{}
	for _, id := range tenants {
		q, err := dir.byExternalID(ctx, id, ref)
		if err != nil {
			return nil, err
		}
		if q != nil && q.Status != store.StatusDeleted {
			t.byExternal = append(t.byExternal, q)
		}
	}
	if len(t.byExternal) == 0 {
		where := "of any tenant"
		if tenant != "" {
			where = "of tenant " + tenant
		}
		t.reason = fmt.Sprintf("no principal %q: neither the id nor the external id of a principal %s; check it with `authz principal list`", ref, where)
	}
	return t, nil
}

// remapOwner picks the principal a row's keys go to. An external id that
// live principals of several tenants share names the one in the tenant of
// the keys that refer to the old owner; when that does not settle it, the
// row is rejected, saying so.
func (s *Service) remapOwner(ctx context.Context, t *remapTarget, r RemapRow) (*store.Principal, string, error) {
	if t.byID != nil {
		return t.byID, "", nil
	}
	if len(t.byExternal) == 1 {
		return t.byExternal[0], "", nil
	}
	var holding []*store.Principal
	for _, p := range t.byExternal {
		has, err := s.tenantHasKeysOf(ctx, p.TenantID, r.OldExternalID)
		if err != nil {
			return nil, "", err
		}
		if has {
			holding = append(holding, p)
		}
	}
	if len(holding) == 1 {
		return holding[0], "", nil
	}
	named := t.byExternal
	if len(holding) > 1 {
		named = holding
	}
	parts := make([]string, len(named))
	for i, p := range named {
		parts[i] = p.ID + " in tenant " + p.TenantID
	}
	return nil, fmt.Sprintf("new_principal %q is ambiguous: it is the external id of %d principals (%s) and the keys of %q do not settle which; give the principal id instead",
		r.NewPrincipal, len(named), strings.Join(parts, ", "), r.OldExternalID), nil
}

// tenantHasKeysOf reports whether a key of tenant refers to owner ref
// (as its owner reference or its owner id).
func (s *Service) tenantHasKeysOf(ctx context.Context, tenant, ref string) (bool, error) {
	for _, f := range []store.LegacyKeyFilter{{TenantID: tenant, OwnerRef: ref}, {TenantID: tenant, OwnerID: ref}} {
		ks, _, err := s.st.ListLegacyKeys(ctx, f, store.Page{Limit: 1})
		if err != nil {
			return false, fmt.Errorf("legacykeys: keys of %q in tenant %s: %w", ref, tenant, err)
		}
		if len(ks) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// endTokensOfMovedKeys invalidates the status-list entries of the keys a
// remap is about to move away from an owner they already had, so tokens
// issued for that owner do not take on the new owner's status.
func (s *Service) endTokensOfMovedKeys(ctx context.Context, tx store.Tx, tenantID, oldRef, newOwner string, now time.Time) error {
	for _, f := range []store.LegacyKeyFilter{{TenantID: tenantID, OwnerRef: oldRef}, {TenantID: tenantID, OwnerID: oldRef}} {
		page := store.Page{Limit: store.MaxLimit}
		for {
			ks, next, err := tx.ListLegacyKeys(ctx, f, page)
			if err != nil {
				return fmt.Errorf("legacykeys: list keys of %q: %w", oldRef, err)
			}
			for _, k := range ks {
				if k.OwnerID == "" || k.OwnerID == newOwner {
					continue
				}
				if err := tx.InvalidateStatusIndex(ctx, credential(k.ID), now); err != nil {
					return fmt.Errorf("legacykeys: invalidate status of key %s: %w", k.ID, err)
				}
			}
			if next == "" || len(ks) == 0 {
				break
			}
			page.After = next
		}
	}
	return nil
}

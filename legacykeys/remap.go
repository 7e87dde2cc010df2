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
// or a principal id, as the import file gave it) belong to principal
// NewPrincipal.
type RemapRow struct {
	Line          int    `json:"line"`
	OldExternalID string `json:"old_external_id"`
	NewPrincipal  string `json:"new_principal"`
	Problem       string `json:"problem,omitempty"`
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
	owners := map[string]*store.Principal{}
	for _, r := range rows {
		sum.Rows++
		if r.Problem == "" {
			r.Problem = remapProblem(r)
		}
		if r.Problem != "" {
			sum.Rejected = append(sum.Rejected, Rejection{Line: r.Line, Reason: r.Problem})
			continue
		}
		o, ok := owners[r.NewPrincipal]
		if !ok {
			p, err := s.usableOwner(ctx, s.st, r.NewPrincipal)
			if _, refused := errcode.As(err); err != nil && !refused {
				return RemapSummary{}, err
			}
			if err != nil {
				sum.Rejected = append(sum.Rejected, Rejection{Line: r.Line, Reason: errcode.Normalize(err).Text()})
				owners[r.NewPrincipal] = nil
				continue
			}
			o = &p
			owners[r.NewPrincipal] = o
		}
		if o == nil {
			sum.Rejected = append(sum.Rejected, Rejection{Line: r.Line, Reason: fmt.Sprintf("principal %q cannot own keys (see the first line that names it)", r.NewPrincipal)})
			continue
		}
		jobs = append(jobs, job{row: r, owner: *o})
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

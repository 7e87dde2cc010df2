package alerts

import (
	"context"
	"strconv"
	"time"

	"github.com/authz/authz/audit"
	"github.com/authz/authz/store"
)

func appendEvent(ctx context.Context, tx store.Tx, ev store.AuditEvent) error {
	return audit.Append(ctx, tx, ev)
}

// burstAlert is the data of alert.admin_burst.
type burstAlert struct {
	Actor         string    `json:"actor"`
	WindowStart   time.Time `json:"window_start"`
	Window        string    `json:"window"`
	Principals    int64     `json:"principals"`     // suspended or deleted in the window so far
	InUse         int64     `json:"in_use"`         // of which owned credentials used in the last 7 days
	MaxPrincipals int       `json:"max_principals"` // the thresholds
	MaxInUse      int       `json:"max_in_use"`
	Last          string    `json:"last_principal"`
	TenantID      string    `json:"tenant_id"`
	Remedy        string    `json:"remedy"`
}

// PrincipalOffboarded implements offboarding.Watcher: it counts, in the
// store, the actor's suspensions and deletions in the current window and
// raises alert.admin_burst (once per actor and window) when a threshold is
// passed, inside the offboarding's transaction.
func (d *Detectors) PrincipalOffboarded(ctx context.Context, tx store.Tx, actor string, p store.Principal, broke int) error {
	if d == nil {
		return nil
	}
	now := d.cfg.Now().UTC().Truncate(time.Microsecond)
	w := now.UnixNano() / int64(d.cfg.BurstWindow)
	start := time.Unix(0, w*int64(d.cfg.BurstWindow)).UTC()
	end := start.Add(d.cfg.BurstWindow)
	suffix := ":" + actor + ":" + strconv.FormatInt(w, 10)
	n, err := tx.CountAlert(ctx, "admin_burst.principals"+suffix, now, end)
	if err != nil {
		return err
	}
	var inUse int64
	if broke > 0 {
		if inUse, err = tx.CountAlert(ctx, "admin_burst.in_use"+suffix, now, end); err != nil {
			return err
		}
	}
	if n <= int64(d.cfg.BurstMaxPrincipals) && inUse <= int64(d.cfg.BurstMaxInUse) {
		return nil
	}
	sent, err := d.raiseTx(ctx, tx, raised{
		name: AdminBurst, claim: "admin_burst" + suffix, until: end, target: "actor:" + actor, tenantID: p.TenantID,
		data: burstAlert{Actor: actor, WindowStart: start, Window: d.cfg.BurstWindow.String(), Principals: n, InUse: inUse,
			MaxPrincipals: d.cfg.BurstMaxPrincipals, MaxInUse: d.cfg.BurstMaxInUse, Last: p.ID, TenantID: p.TenantID,
			Remedy: "Check that " + actor + " acts as intended (`authz audit list --actor " + actor + "`); resume principals suspended by mistake with `authz principal resume ID`."},
	})
	if sent {
		// Counted before the commit: a rolled-back offboarding may count
		// an alert that was not sent.
		d.met.alerts.WithLabelValues(AdminBurst).Inc()
	}
	return err
}

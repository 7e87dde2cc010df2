package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/notify"
	"github.com/authz/authz/store"
)

type netShard struct {
	mu sync.Mutex
	m  map[string]*netState
}

// netState is the prefixes this replica knows a credential used (or has
// queued for the worker to check).
type netState struct {
	known   map[netip.Prefix]struct{}
	roaming bool
}

// netUse is one use of a credential from a prefix not known in memory.
type netUse struct {
	credential, tenant string
	prefix             netip.Prefix
	addr               string
	at                 time.Time
}

// Prefix is the network an address belongs to for alert.new_network: its
// IPv4 /24 or IPv6 /48 (an IPv4-mapped IPv6 address counts as IPv4).
func Prefix(addr string) (netip.Prefix, bool) {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap().WithZone("")
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	return p, err == nil
}

func (d *Detectors) used(now time.Time, cred, tenant, addr string) {
	p, ok := Prefix(addr)
	if !ok {
		return
	}
	sh := &d.nets[d.shard(cred)]
	sh.mu.Lock()
	s := sh.m[cred]
	if s == nil {
		if len(sh.m) >= d.perShard() {
			for k := range sh.m {
				delete(sh.m, k)
				break
			}
		}
		s = &netState{known: map[netip.Prefix]struct{}{}}
		sh.m[cred] = s
	}
	_, known := s.known[p]
	if !known && !s.roaming {
		if len(s.known) >= d.cfg.MaxPrefixes {
			s.roaming = true
		} else {
			s.known[p] = struct{}{}
		}
	}
	roaming := s.roaming
	sh.mu.Unlock()
	if !known && !roaming {
		d.enqueue(job{net: &netUse{credential: cred, tenant: tenant, prefix: p, addr: addr, at: now}})
	}
}

// networkAlert is the data of alert.new_network.
type networkAlert struct {
	Credential    string    `json:"credential"`
	TenantID      string    `json:"tenant_id,omitempty"`
	Prefix        string    `json:"prefix"`
	ClientAddr    string    `json:"client_addr"`
	At            time.Time `json:"at"`
	KnownPrefixes []string  `json:"known_prefixes"`
	LearningSince time.Time `json:"learning_since"`
	Action        string    `json:"action"`
	ActionTaken   string    `json:"action_taken,omitempty"`
	Remedy        string    `json:"remedy"`
}

// checkNetworks records the uses' prefixes in the store, in one
// transaction, and alerts for each prefix that is new once its
// credential's learning period is over. A commit costs far more than the
// inserts it carries (an fsync on SQLite): one each would make every
// credential's first use cost a commit of its own.
//
// The networks a new prefix is judged against are read in the same
// transaction: on SQLite its connection's page cache is warm, where a
// reader connection's is dropped by every commit in between.
func (d *Detectors) checkNetworks(ctx context.Context, us []netUse) error {
	known := make([][]store.CredentialNetwork, len(us)) // nil: the prefix was not new
	err := d.st.Tx(ctx, func(tx store.Tx) error {
		for i, u := range us {
			at := u.at.UTC().Truncate(time.Microsecond)
			isNew, err := tx.AddCredentialNetwork(ctx, store.CredentialNetwork{Credential: u.credential, Prefix: u.prefix.String(), FirstSeen: at, LastSeen: at})
			if err != nil {
				return err
			}
			if !isNew {
				continue
			}
			if known[i], err = tx.ListCredentialNetworks(ctx, u.credential, d.cfg.MaxPrefixes+1); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for i, u := range us {
		if known[i] != nil {
			errs = append(errs, d.newNetwork(ctx, u, known[i]))
		}
	}
	return errors.Join(errs...)
}

// newNetwork alerts for a prefix just recorded as new, given the networks
// its credential is known to use (the new one among them), if the
// credential's learning period is over.
func (d *Detectors) newNetwork(ctx context.Context, u netUse, known []store.CredentialNetwork) error {
	at := u.at.UTC().Truncate(time.Microsecond)
	if len(known) == 0 || at.Sub(known[0].FirstSeen) < d.cfg.NetworkLearning {
		return nil // still learning (or this is the first prefix)
	}
	a := networkAlert{Credential: u.credential, TenantID: u.tenant, Prefix: u.prefix.String(), ClientAddr: u.addr, At: at,
		LearningSince: known[0].FirstSeen, Action: d.cfg.NetworkAction, KnownPrefixes: []string{}}
	for _, n := range known {
		if n.Prefix != a.Prefix {
			a.KnownPrefixes = append(a.KnownPrefixes, n.Prefix)
		}
	}
	kind, id, _ := strings.Cut(u.credential, ":")
	r := raised{name: NewNetwork, target: u.credential, tenantID: u.tenant, data: &a}
	switch kind {
	case "client":
		a.Remedy = fmt.Sprintf("If this use is not expected, suspend the client (`authz client suspend %s`) and rotate its secret.", id)
	default:
		a.Remedy = fmt.Sprintf("If this use is not expected, revoke the key (`authz key revoke %s --reason ...`) and issue the holder a new one.", id)
	}
	if d.cfg.NetworkAction == ActionSuspendCredential {
		r.also = func(ctx context.Context, tx store.Tx) error { return d.suspendCredential(ctx, tx, kind, id, &a) }
	}
	return d.raise(ctx, r)
}

// suspendCredential stops a credential seen on a new network: a client is
// suspended (resumable), a legacy key revoked (keys have no suspension).
func (d *Detectors) suspendCredential(ctx context.Context, tx store.Tx, kind, id string, a *networkAlert) error {
	now := d.cfg.Now().UTC().Truncate(time.Microsecond)
	reason := "alert.new_network: used from " + a.Prefix
	var action, target, tenant string
	statusTo := store.StatusSuspended
	if kind == "key" {
		statusTo = store.StatusRevoked
	}
	switch kind {
	case "client":
		c, err := tx.UpdateClient(ctx, id, func(c store.Client) (store.Client, error) {
			if c.Status != store.StatusActive {
				return c, errcode.New(errcode.Conflict, "not active")
			}
			c.Status, c.StatusChangedAt, c.StatusChangedBy, c.UpdatedAt = store.StatusSuspended, now, "system", now
			return c, nil
		})
		if err != nil {
			a.ActionTaken = "none: " + err.Error()
			return nil
		}
		action, target, tenant = "client.suspend", "client:"+c.ID, c.TenantID
		a.ActionTaken = "client suspended; resume it with `authz client resume " + c.ID + "`"
	case "key":
		k, err := tx.UpdateLegacyKey(ctx, id, func(k store.LegacyKey) (store.LegacyKey, error) {
			if k.Status != store.StatusActive {
				return k, errcode.New(errcode.Conflict, "not active")
			}
			k.Status, k.RevokedAt, k.RevokedBy, k.RevokedReason, k.UpdatedAt = store.StatusRevoked, &now, "system", reason, now
			return k, nil
		})
		if err != nil {
			a.ActionTaken = "none: " + err.Error()
			return nil
		}
		// Tokens it already obtained stop at the gateways that read the
		// status list, as after any revocation.
		if err := tx.InvalidateStatusIndex(ctx, "key:"+k.ID, now); err != nil {
			return err
		}
		action, target, tenant = "key.revoke", "key:"+k.ID, k.TenantID
		a.ActionTaken = "key revoked"
		// The same notice as any revocation (legacykeys.Service.Revoke).
		if d.cfg.Notifier != nil {
			if err := d.cfg.Notifier.Enqueue(ctx, tx, notify.KeyRevoked, map[string]any{
				"key_id": k.ID, "tenant_id": k.TenantID, "owner_id": k.OwnerID, "label": k.Label, "environment": k.Environment,
				"expires_at": k.ExpiresAt, "revoked_at": now, "revoked_by": "system", "reason": reason,
			}); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	details, err := json.Marshal(map[string]any{"status": map[string]any{"from": "active", "to": statusTo}, "reason": reason})
	if err != nil {
		return err
	}
	return appendEvent(ctx, tx, store.AuditEvent{Time: now, Actor: "system", Action: action, Target: target, TenantID: tenant, Outcome: "success", Details: details})
}

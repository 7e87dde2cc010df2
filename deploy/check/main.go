package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
)

// known are the metric families authz and `authz gateway` export that
// dashboards may use (histograms by their family name).
func knownMetrics() []string {
	return []string{
		"authz_token_requests_total", "authz_token_request_duration_seconds", "authz_legacy_exchanges_total",
		"authz_signing_key_age_seconds", "authz_signing_key_rotation_due_seconds", "authz_signing_keys",
		"authz_verifier_status_list_age_seconds", "authz_statuslist_builds_total", "authz_alerts_total",
		"authz_alert_events_dropped_total", "authz_webhook_queue_depth", "authz_webhook_deliveries_total",
	}
}

var metric = regexp.MustCompile(`authz_[a-z0-9_]+`)

func main() {
	failed := false
	for _, path := range os.Args[1:] {
		if err := check(path); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

func check(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var d struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return err
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		return fmt.Errorf("needs a title, a uid and panels")
	}
	known := knownMetrics()
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			for _, m := range metric.FindAllString(t.Expr, -1) {
				base := m
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := cutSuffix(m, suf); ok && slices.Contains(known, b) {
						base = b
					}
				}
				if !slices.Contains(known, base) {
					return fmt.Errorf("panel %q: unknown metric %s", p.Title, m)
				}
			}
		}
	}
	return nil
}

func cutSuffix(s, suf string) (string, bool) {
	if len(s) > len(suf) && s[len(s)-len(suf):] == suf {
		return s[:len(s)-len(suf)], true
	}
	return s, false
}

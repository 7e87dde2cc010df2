package console

import (
	"encoding/json"
	"html/template"
	"io/fs"
	"strings"
	"time"
)

var funcs = template.FuncMap{
	"when": func(v any) string {
		switch t := v.(type) {
		case time.Time:
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		case *time.Time:
			if t == nil {
				return "never"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		}
		return ""
	},
	"reason": func(details json.RawMessage) string {
		// The offboarding operation keeps the reason in the audit details.
		var d struct {
			Reason string `json:"reason"`
		}
		if json.Unmarshal(details, &d) != nil {
			return ""
		}
		return d.Reason
	},
	// iso is a time for tests and scripts to read (data attributes):
	// RFC 3339 with nanoseconds, "" for never.
	"iso": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	},
	"join":      strings.Join,
	"hasPrefix": strings.HasPrefix,
	"actorLink": func(actor string) string {
		// console:prn_... and principal ids link to the principal page.
		if id, ok := strings.CutPrefix(actor, "console:"); ok {
			return "/principals/" + id
		}
		return ""
	},
	"targetLink": func(target string) string {
		kind, id, _ := strings.Cut(target, ":")
		switch kind {
		case "principal":
			return "/principals/" + id
		case "key":
			return "/keys/" + id
		}
		return ""
	},
}

// parsePages parses each page together with the layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(files, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		pages[base] = t
	}
	return pages, nil
}

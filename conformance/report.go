package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText writes the report as a table — result, check, RFC section,
// reason — and a closing count.
func (r *Report) WriteText(w io.Writer) error {
	t := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(t, "RESULT\tCHECK\tSECTION\tREASON\n")
	for _, res := range r.Results {
		reason := res.Reason
		if reason == "" {
			reason = res.Title
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\n", strings.ToUpper(string(res.Status)), res.ID, res.Section, oneLine(reason))
	}
	if err := t.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s: %d passed, %d failed, %d skipped\n", r.Issuer, r.Count(Pass), r.Count(Fail), r.Count(Skip))
	return err
}

// WriteJSON writes the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(struct {
		*Report
		Passed  int `json:"passed"`
		Failed  int `json:"failed"`
		Skipped int `json:"skipped"`
	}{r, r.Count(Pass), r.Count(Fail), r.Count(Skip)})
}

// oneLine keeps a reason on its table row, whatever a server sent.
func oneLine(s string) string { return clip(s, 1<<10) }

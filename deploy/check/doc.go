// Command check validates the Grafana dashboards shipped in deploy/: each
// file is one JSON object with a title, a uid and panels, and every panel
// query names only metrics (authz_*) that authz or its gateway exports.
// .ci/run runs it; promtool checks the Prometheus rules.
package main

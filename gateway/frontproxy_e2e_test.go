package gateway_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/gateway"
	"github.com/authz/authz/jwks/verifier"
	"github.com/authz/authz/reqmeta"
	"github.com/authz/authz/statuslist"
)

// The front-proxy tests run a real NGINX (Debian nginx-light, which has
// auth_request) and a real Caddy (forward_auth) in front of the decision
// endpoint, with the configurations of docs/gateways.md. Under CI=true a
// missing binary fails the test (.ci/run installs both).
func needBinary(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (apt-get install %s); CI requires it", name, pkg)
	}
	t.Skipf("%s not installed (apt-get install %s)", name, pkg)
	return ""
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startDaemon runs cmd until the test ends and waits for addr to accept.
func startDaemon(t testing.TB, cmd *exec.Cmd, addr string, logs func() string) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("%s exited: %s\n%s", cmd.Path, out.String(), logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s: %s\n%s", cmd.Path, addr, out.String(), logs())
		}
	}
}

// frontConfig is what the NGINX and Caddy templates are filled with.
type frontConfig struct {
	Dir, Listen, Authz, Upstream string
	Root                         bool
	// Plain adds an unauthenticated /plain/ location (benchmarks).
	Plain bool
}

func writeConfig(t testing.TB, name, tmpl string, c frontConfig) string {
	t.Helper()
	var b bytes.Buffer
	if err := template.Must(template.New(name).Parse(tmpl)).Execute(&b, c); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(c.Dir, name)
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// nginxConf is docs/gateways.md's NGINX configuration, with the paths
// and ports of the test. /admin/ requires one more scope, set per
// location with X-Authz-Require-Scope.
const nginxConf = `{{if .Root}}user root;{{end}}
worker_processes 1;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path {{.Dir}}/body;
  proxy_temp_path {{.Dir}}/proxy;
  fastcgi_temp_path {{.Dir}}/fastcgi;
  uwsgi_temp_path {{.Dir}}/uwsgi;
  scgi_temp_path {{.Dir}}/scgi;

  upstream authz_decision { server {{.Authz}}; keepalive 32; }
  upstream app { server {{.Upstream}}; keepalive 32; }

  server {
    listen {{.Listen}};

    # Copied from the decision's answer: who the caller is, and the token
    # the upstream receives (for a legacy key, the exchanged one).
    auth_request_set $authz_subject       $upstream_http_x_authz_subject;
    auth_request_set $authz_tenant        $upstream_http_x_authz_tenant;
    auth_request_set $authz_client_id     $upstream_http_x_authz_client_id;
    auth_request_set $authz_scope         $upstream_http_x_authz_scope;
    auth_request_set $authz_credential    $upstream_http_x_authz_credential;
    auth_request_set $authz_authorization $upstream_http_authorization;
    # auth_request drops the decision's body: its JSON comes in a header.
    auth_request_set $authz_error         $upstream_http_x_authz_error;
    auth_request_set $authz_challenge     $upstream_http_www_authenticate;
    error_page 401 = @authz_401;
    error_page 403 = @authz_403;

    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    proxy_set_header Authorization      $authz_authorization;
    proxy_set_header X-API-Key          "";
    proxy_set_header X-Authz-Subject    $authz_subject;
    proxy_set_header X-Authz-Tenant     $authz_tenant;
    proxy_set_header X-Authz-Client-Id  $authz_client_id;
    proxy_set_header X-Authz-Scope      $authz_scope;
    proxy_set_header X-Authz-Credential $authz_credential;

    location / {
      auth_request /_authz;
      proxy_pass http://app;
    }
{{if .Plain}}
    # Benchmarks only: the same route without the decision.
    location /plain/ {
      proxy_pass http://app;
    }
{{end}}
    location /admin/ {
      auth_request /_authz_admin;
      proxy_pass http://app;
    }

    location = /_authz {
      internal;
      proxy_pass http://authz_decision;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Connection "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Forwarded-Method "";  # a caller's own would conflict
      proxy_set_header X-Forwarded-Uri "";
      proxy_set_header X-Forwarded-For $remote_addr;
    }
    location = /_authz_admin {
      internal;
      proxy_pass http://authz_decision;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Connection "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Forwarded-Method "";  # a caller's own would conflict
      proxy_set_header X-Forwarded-Uri "";
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Authz-Require-Scope "orders:admin";
    }
    # NGINX itself copies the decision's WWW-Authenticate to a 401
    # (not to a 403): add it only there.
    location @authz_401 {
      internal;
      default_type application/json;
      add_header Cache-Control no-store always;
      return 401 $authz_error;
    }
    location @authz_403 {
      internal;
      default_type application/json;
      add_header WWW-Authenticate $authz_challenge always;
      add_header Cache-Control no-store always;
      return 403 $authz_error;
    }
  }
}
`

// caddyConf is docs/gateways.md's Caddy configuration.
const caddyConf = `{
	admin off
	auto_https off
	storage file_system {{.Dir}}/caddy-data
}
http://{{.Listen}} {
	handle /admin/* {
		forward_auth {{.Authz}} {
			uri /_authz
			header_up -X-Original-Method  # a caller's own would conflict
			header_up -X-Original-Uri
			header_up X-Authz-Require-Scope "orders:admin"
			copy_headers X-Authz-Subject X-Authz-Tenant X-Authz-Client-Id X-Authz-Scope X-Authz-Credential Authorization
		}
		reverse_proxy {{.Upstream}} {
			header_up -X-API-Key
		}
	}
	handle {
		forward_auth {{.Authz}} {
			uri /_authz
			header_up -X-Original-Method  # a caller's own would conflict
			header_up -X-Original-Uri
			copy_headers X-Authz-Subject X-Authz-Tenant X-Authz-Client-Id X-Authz-Scope X-Authz-Credential Authorization
		}
		reverse_proxy {{.Upstream}} {
			header_up -X-API-Key
		}
	}
}
`

func startNGINX(t testing.TB, authz, upstream string) string {
	return startNGINXConf(t, authz, upstream, false)
}

func startNGINXConf(t testing.TB, authz, upstream string, plain bool) string {
	bin := needBinary(t, "nginx", "nginx-light")
	c := frontConfig{Dir: t.TempDir(), Listen: freePort(t), Authz: authz, Upstream: upstream, Root: os.Geteuid() == 0, Plain: plain}
	conf := writeConfig(t, "nginx.conf", nginxConf, c)
	errLog := filepath.Join(c.Dir, "error.log")
	cmd := exec.Command(bin, "-p", c.Dir, "-c", conf,
		"-g", fmt.Sprintf("daemon off; master_process off; pid %s/nginx.pid; error_log %s warn;", c.Dir, errLog))
	startDaemon(t, cmd, c.Listen, func() string { b, _ := os.ReadFile(errLog); return string(b) })
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(errLog)
			t.Logf("nginx error.log:\n%s", b)
		}
	})
	return "http://" + c.Listen
}

func startCaddy(t *testing.T, authz, upstream string) string {
	bin := needBinary(t, "caddy", "caddy")
	c := frontConfig{Dir: t.TempDir(), Listen: freePort(t), Authz: authz, Upstream: upstream}
	conf := writeConfig(t, "Caddyfile", caddyConf, c)
	cmd := exec.Command(bin, "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+c.Dir, "XDG_CONFIG_HOME="+c.Dir, "XDG_DATA_HOME="+c.Dir)
	startDaemon(t, cmd, c.Listen, func() string { return "" })
	return "http://" + c.Listen
}

func TestFrontProxyNGINX(t *testing.T) {
	testFrontProxy(t, func(t *testing.T, a, u string) string { return startNGINX(t, a, u) })
}
func TestFrontProxyCaddy(t *testing.T) { testFrontProxy(t, startCaddy) }

// testFrontProxy runs the issue 21 scenarios through a real front proxy
// asking the decision endpoint.
func testFrontProxy(t *testing.T, start func(t *testing.T, authz, upstream string) string) {
	a := newFakeAuthz(t)
	trusted, err := reqmeta.ParseTrustedProxies([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := gateway.NewDecider(gateway.Config{
		Verifier: a.verifier(t), Require: verifier.Require{Tenants: []string{"acme"}},
		LegacyKeyHeader: "X-API-Key", TokenEndpoint: a.iss.URL + "/oauth2/token",
		ClientID: gatewayClient, ClientSecret: gatewaySecret, ExchangeAudience: audience,
		Now: a.clock.Now, TrustedProxies: trusted,
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: d.DecisionHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	up := newUpstream(t)
	front := start(t, l.Addr().String(), strings.TrimPrefix(up.srv.URL, "http://"))

	const key = "lk-e2e-3f9a"
	k := legacyKey{id: "k1", owner: "p-alice", scope: "orders:read", listed: true, listIdx: 3}
	a.setKey(key, k)
	tok := a.validToken(t, nil)
	other := a.validToken(t, func(c map[string]any) { c["tenant"] = "globex" })

	type result struct {
		status int
		header http.Header
		body   string
		seen   http.Header // what the upstream received, nil if nothing
	}
	call := func(t *testing.T, path string, h map[string]string) result {
		t.Helper()
		before := len(up.requests())
		req, _ := http.NewRequest(http.MethodGet, front+path, nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		r := result{status: resp.StatusCode, header: resp.Header, body: string(b)}
		if seen := up.requests(); len(seen) > before {
			r.seen = seen[len(seen)-1]
		}
		return r
	}
	refused := func(t *testing.T, r result, status int, code errcode.Code) {
		t.Helper()
		if r.status != status || r.seen != nil {
			t.Fatalf("status %d (want %d), reached upstream: %v, body %s", r.status, status, r.seen != nil, r.body)
		}
		if ch := r.header.Values("WWW-Authenticate"); len(ch) != 1 || !strings.HasPrefix(ch[0], "Bearer") {
			t.Fatalf("WWW-Authenticate %q, want one Bearer challenge", ch)
		}
		if !strings.Contains(r.body, `"error_code":"`+string(code)+`"`) {
			t.Fatalf("body %q lacks error_code %s", r.body, code)
		}
	}

	t.Run("ok/valid token, identity upstream", func(t *testing.T) {
		r := call(t, "/orders/1", map[string]string{"Authorization": "Bearer " + tok, "X-Authz-Subject": "spoofed-admin"})
		if r.status != 200 || r.seen == nil {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if r.seen.Get("X-Authz-Subject") != "svc-orders" || r.seen.Get("X-Authz-Tenant") != "acme" ||
			r.seen.Get("X-Authz-Scope") != "orders:read orders:write" || r.seen.Get("Authorization") != "Bearer "+tok {
			t.Fatalf("upstream saw %v", r.seen)
		}
		if vs := r.seen.Values("X-Authz-Subject"); len(vs) != 1 {
			t.Fatalf("caller's own X-Authz-Subject reached the upstream: %q", vs)
		}
	})
	t.Run("ok/caller's own forwarded headers are replaced", func(t *testing.T) {
		r := call(t, "/orders/1", map[string]string{"Authorization": "Bearer " + tok,
			"X-Original-Method": "GET", "X-Original-URI": "/elsewhere", "X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/elsewhere"})
		if r.status != 200 || r.seen == nil {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
	t.Run("fail/no token", func(t *testing.T) {
		refused(t, call(t, "/orders/1", nil), 401, errcode.TokenInvalid)
	})
	t.Run("fail/another tenant's token", func(t *testing.T) {
		refused(t, call(t, "/orders/1", map[string]string{"Authorization": "Bearer " + other}), 403, errcode.Forbidden)
	})
	t.Run("fail/scope the location requires", func(t *testing.T) {
		r := call(t, "/admin/x", map[string]string{"Authorization": "Bearer " + tok})
		refused(t, r, 403, errcode.Forbidden)
		if !strings.Contains(r.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
			t.Fatalf("challenge %q", r.header.Get("WWW-Authenticate"))
		}
	})
	t.Run("ok/legacy key bridged", func(t *testing.T) {
		r := call(t, "/orders/2", map[string]string{"X-API-Key": key})
		if r.status != 200 || r.seen == nil {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		auth := r.seen.Get("Authorization")
		if !strings.HasPrefix(auth, "Bearer ") || len(auth) < 40 || r.seen.Get("X-Authz-Subject") != "p-alice" || r.seen.Get("X-Authz-Credential") != "legacy_key" {
			t.Fatalf("upstream saw %v", r.seen)
		}
		for name, vs := range r.seen {
			for _, v := range vs {
				if strings.Contains(v, key) {
					t.Fatalf("the upstream saw the key in %s", name)
				}
			}
		}
	})
	t.Run("fail/same key after its owner is suspended", func(t *testing.T) {
		k.code = errcode.OwnerSuspended
		a.setKey(key, k)
		a.iss.SetStatus(3, statuslist.Suspended)
		a.clock.Advance(31 * time.Second) // past the status list's ttl
		refused(t, call(t, "/orders/3", map[string]string{"X-API-Key": key}), 401, errcode.OwnerSuspended)
	})
}

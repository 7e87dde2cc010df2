package extauthz

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"

	"github.com/authz/authz/gateway"
	"github.com/authz/authz/reqmeta"
)

// Context extensions (set per route in Envoy's ext_authz
// check_settings) that add per-route requirements, like the
// X-Authz-Require-* headers of the HTTP decision endpoint.
var contextRequirements = map[string]string{
	"require_scope":    gateway.HeaderRequireScope,
	"require_role":     gateway.HeaderRequireRole,
	"require_tenant":   gateway.HeaderRequireTenant,
	"require_audience": gateway.HeaderRequireAudience,
}

// Server is the Authorization service over a Decider.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	d       *gateway.Decider
	trusted reqmeta.TrustedProxies
}

// New returns the service. With trusted set, only those peers (Envoy)
// may ask; the caller's address is Envoy's source address attribute.
func New(d *gateway.Decider, trusted reqmeta.TrustedProxies) *Server {
	return &Server{d: d, trusted: trusted}
}

// Register adds the service to g.
func (s *Server) Register(g *grpc.Server) { authv3.RegisterAuthorizationServer(g, s) }

// Check implements envoy.service.auth.v3.Authorization. It never returns
// an error: every refusal, bad input included, is a denied response, so
// that Envoy refuses the request even with failure_mode_allow.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	start := time.Now()
	if s.trusted.Len() > 0 && !s.trustedPeer(ctx) {
		dec := gateway.UntrustedPeer()
		s.d.Record(gateway.ModeGRPC, "", dec, gateway.OutcomeUntrustedPeer, time.Since(start))
		return s.denied(dec), nil
	}
	attrs := req.GetAttributes()
	hr := attrs.GetRequest().GetHttp()
	if hr == nil {
		dec := gateway.BadRequest("The check request carries no HTTP request attributes.")
		s.d.Record(gateway.ModeGRPC, "", dec, gateway.OutcomeBadRequest, time.Since(start))
		return s.denied(dec), nil
	}
	// The original request is Envoy's own description: forwarded headers
	// a caller may have sent play no part.
	o, err := gateway.ParseOriginal(hr.GetMethod(), hr.GetPath(), hr.GetHost(), http.Header{})
	if err != nil {
		dec := gateway.BadRequest(err.Error())
		s.d.Record(gateway.ModeGRPC, "", dec, gateway.OutcomeBadRequest, time.Since(start))
		return s.denied(dec), nil
	}
	h := http.Header{}
	for k, v := range hr.GetHeaders() {
		if strings.HasPrefix(k, ":") {
			continue
		}
		h.Set(k, v)
	}
	for _, hv := range hr.GetHeaderMap().GetHeaders() {
		if !strings.HasPrefix(hv.GetKey(), ":") {
			v := hv.GetValue()
			if v == "" {
				v = string(hv.GetRawValue())
			}
			h.Add(hv.GetKey(), v)
		}
	}
	reqHeaders := h.Clone()
	for k, name := range contextRequirements {
		if v, ok := attrs.GetContextExtensions()[k]; ok {
			reqHeaders.Add(name, v)
		}
	}
	extra, err := gateway.ParseRequirements(reqHeaders)
	if err != nil {
		dec := gateway.BadRequest(err.Error())
		s.d.Record(gateway.ModeGRPC, "", dec, gateway.OutcomeBadRequest, time.Since(start))
		return s.denied(dec), nil
	}
	meta := reqmeta.Meta{RequestID: hr.GetId(), ClientAddr: s.sourceAddr(ctx, attrs)}
	dec := s.d.Decide(reqmeta.With(ctx, meta), gateway.Input{Header: h, Path: o.Path, Extra: extra})
	if !dec.Allowed() {
		s.d.Record(gateway.ModeGRPC, o.Path, dec, "", time.Since(start))
		return s.denied(dec), nil
	}
	ok := &authv3.OkHttpResponse{}
	for k, v := range dec.IdentityHeaders() {
		ok.Headers = append(ok.Headers, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: strings.ToLower(k), Value: v},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
	}
	if kh := s.d.KeyHeader(); kh != "" {
		ok.HeadersToRemove = []string{strings.ToLower(kh)}
	}
	s.d.Record(gateway.ModeGRPC, o.Path, dec, "allowed", time.Since(start))
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
	}, nil
}

func (s *Server) denied(dec gateway.Decision) *authv3.CheckResponse {
	resp := &authv3.DeniedHttpResponse{
		Status: &typev3.HttpStatus{Code: typev3.StatusCode(dec.Status())},
		Body:   dec.JSONBody() + "\n",
	}
	headers := dec.RefusalHeaders(s.d.Realm())
	headers["Content-Type"] = "application/json;charset=UTF-8"
	for k, v := range headers {
		resp.Headers = append(resp.Headers, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: strings.ToLower(k), Value: v},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
	}
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(grpcCode(dec.Status()))},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: resp},
	}
}

func grpcCode(status int) codes.Code {
	switch status {
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusBadRequest:
		return codes.InvalidArgument
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	}
	return codes.Internal
}

func (s *Server) trustedPeer(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return false
	}
	ap, err := netip.ParseAddrPort(p.Addr.String())
	if err != nil {
		return false
	}
	return s.trusted.Trusts(ap.Addr().Unmap())
}

// sourceAddr is the downstream caller's address as Envoy saw it, which
// the bridge's per-address exchange limit counts. Envoy's word for it is
// taken only when Envoy is a trusted proxy; otherwise the peer's address
// counts, as for X-Forwarded-For.
func (s *Server) sourceAddr(ctx context.Context, attrs *authv3.AttributeContext) string {
	var peerAddr string
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		if ap, err := netip.ParseAddrPort(p.Addr.String()); err == nil {
			peerAddr = ap.Addr().Unmap().String()
		}
	}
	if s.trusted.Len() == 0 {
		return peerAddr
	}
	if a := attrs.GetSource().GetAddress().GetSocketAddress().GetAddress(); a != "" {
		if ip, err := netip.ParseAddr(a); err == nil {
			return ip.Unmap().String()
		}
	}
	return peerAddr
}

package oauth_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authz/authz/server/servertest"
	"github.com/authz/authz/store/storetest"
)

// FuzzTokenRequest throws arbitrary bodies, content types and
// Authorization headers at the token endpoint of a real server. Whatever
// comes in, the answer is never a 5xx, never a token, and every error is
// RFC 6749 JSON with an error_code.
//
//	go test -run '^$' -fuzz FuzzTokenRequest -fuzztime 30s ./oauth
func FuzzTokenRequest(f *testing.F) {
	e := servertest.Start(f, storetest.SQLiteURL(f))
	fx := e.Standard("fuzz")
	h := e.Srv.Handler()
	form := "application/x-www-form-urlencoded"
	f.Add("grant_type=client_credentials", form, "Basic "+basic(fx.Client.ID, "azs_wrong"))
	f.Add("grant_type=client_credentials&scope=a&scope=b", form, "")
	f.Add("grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=azk_x&subject_token_type=urn:authz:token-type:api-key", form, "")
	f.Add("grant_type=client_credentials&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=a.b.c", form, "")
	f.Add("%zz=%", form, "Bearer x")
	f.Add(`{"grant_type":"client_credentials"}`, "application/json", "Basic Og==")
	f.Add("grant_type=client_credentials&client_id="+fx.Client.ID+"&client_secret=", form+"; charset=utf-8", "Basic "+basic("a:b", "c"))
	f.Fuzz(func(t *testing.T, body, contentType, authorization string) {
		req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 || rec.Code == http.StatusOK {
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body)
		}
		var b struct {
			Error string `json:"error"`
			Code  string `json:"error_code"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Error == "" || b.Code == "" {
			t.Fatalf("status %d with a body that is not RFC 6749 JSON with error_code: %s", rec.Code, rec.Body)
		}
	})
}

func basic(user, pass string) string {
	return base64Std(user + ":" + pass)
}

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

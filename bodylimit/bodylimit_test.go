package bodylimit_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authz/authz/bodylimit"
	"github.com/authz/authz/bodylimit/bodylimittest"
)

func TestDeclaredBodyOverLimitIsRefusedUnread(t *testing.T) {
	read := make(chan int64, 100)
	srv := httptest.NewServer(bodylimit.Handler(1<<20, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 1<<20))
		read <- n
		_, _ = io.WriteString(w, "ok")
	})))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()

	for _, expect := range []bool{true, false} {
		t.Run(fmt.Sprintf("expect-100-continue=%v", expect), func(t *testing.T) {
			// Repeated: a server that reads before refusing answers some
			// tries with 100 Continue and a reset instead of the 413.
			for range 30 {
				resp, body, err := bodylimittest.Declared(t, addr, "/", "application/json", 3<<20, expect)
				bodylimittest.CheckRefused(t, resp, body, err)
			}
			select {
			case n := <-read:
				t.Fatalf("the handler ran and read %d bytes", n)
			default:
			}
		})
	}

	t.Run("within the limit", func(t *testing.T) {
		resp, err := http.Post(srv.URL, "text/plain", strings.NewReader(strings.Repeat("a", 1<<20)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || <-read != 1<<20 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

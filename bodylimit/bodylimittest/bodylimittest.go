package bodylimittest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/errcode"
)

// Declared sends a POST declaring a body of size bytes on a fresh
// connection and returns the first response: with expect, the client
// waits for 100 Continue before sending the body (as curl does); without,
// it sends the body at once, as the answer arrives. Header lines such as
// "Authorization: Bearer ..." are added as given.
func Declared(t testing.TB, addr, path, contentType string, size int, expect bool, header ...string) (*http.Response, []byte, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n", path, addr, contentType, size)
	for _, h := range header {
		head += h + "\r\n"
	}
	if expect {
		head += "Expect: 100-continue\r\n"
	}
	if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
		t.Fatal(err)
	}
	if !expect {
		go func() {
			chunk := []byte(strings.Repeat("a", 64<<10))
			for sent := 0; sent < size; sent += len(chunk) {
				if _, err := conn.Write(chunk[:min(len(chunk), size-sent)]); err != nil {
					return // the server closed the connection: expected
				}
			}
		}()
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode == http.StatusContinue {
		return nil, nil, fmt.Errorf("the server answered 100 Continue: it asked for the body")
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return resp, body, err
	}
	// The server must close the connection after the answer.
	if _, err := br.ReadByte(); err == nil {
		return resp, body, fmt.Errorf("the connection stayed open after the answer")
	}
	return resp, body, nil
}

// CheckRefused fails unless resp is the 413 of bodylimit.
func CheckRefused(t testing.TB, resp *http.Response, body []byte, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("no clean answer: %v", err)
	}
	var eb errcode.Body
	if resp.StatusCode != http.StatusRequestEntityTooLarge || json.Unmarshal(body, &eb) != nil ||
		eb.Code != errcode.RequestTooLarge || eb.Error != "invalid_request" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("got %d %q, want 413 request_too_large JSON", resp.StatusCode, body)
	}
	if !resp.Close {
		t.Fatalf("413 without Connection: close (headers %v)", resp.Header)
	}
}

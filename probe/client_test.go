package probe

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nines-sre/nines/model"
)

func TestClientMovesToTheNextController(t *testing.T) {
	var hits [2]atomic.Int32
	serve := func(i int, code int) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			w.WriteHeader(code)
			w.Write([]byte(`{}`))
		}))
	}
	unavailable := serve(0, http.StatusServiceUnavailable)
	defer unavailable.Close()
	ok := serve(1, http.StatusOK)
	defer ok.Close()
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()

	c, err := newClient(dead+", "+unavailable.URL+"/,"+ok.URL, "tok", "test", "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hb := &model.Heartbeat{Probe: "p", Region: "eu-london"}
	if _, err := c.heartbeat(ctx, "/api/v1/heartbeat", hb); err == nil {
		t.Fatal("a dead controller answered")
	}
	if _, err := c.heartbeat(ctx, "/api/v1/heartbeat", hb); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("second try, at the unavailable replica: %v", err)
	}
	for range 3 {
		if _, err := c.heartbeat(ctx, "/api/v1/heartbeat", hb); err != nil {
			t.Fatalf("third replica: %v", err)
		}
	}
	if hits[0].Load() != 1 || hits[1].Load() != 3 {
		t.Fatalf("hits %d %d: the client should stay with the replica that answers", hits[0].Load(), hits[1].Load())
	}
	if _, err := newClient("http://a,ftp://b", "tok", "test", "", "", ""); err == nil || !strings.Contains(err.Error(), "ftp://b") {
		t.Fatalf("bad URL in the list: %v", err)
	}
}

// A kept-alive connection that the controller closes as the next call goes
// out costs the call nothing: it is sent again on a fresh connection.
func TestCallSurvivesAConnectionClosedUnderIt(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			n := conns.Add(1)
			go func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for i := 0; ; i++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if n == 1 && i == 1 {
						// The first connection's second call: reset.
						_ = conn.(*net.TCPConn).SetLinger(0)
						return
					}
					_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
				}
			}()
		}
	}()
	c, err := newClient("http://"+ln.Addr().String(), "tok", "test", "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := c.do(context.Background(), http.MethodPost, "/api/v1/probes/heartbeat", map[string]int{"n": i}, nil, nil); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (the reset one and its replacement)", n)
	}
}

// A shipment holds results up to a byte bound (screenshots are large), and
// always at least one.
func TestShipmentsAreBoundedInBytes(t *testing.T) {
	mk := func(sizes ...int) []Spooled {
		var out []Spooled
		for i, n := range sizes {
			out = append(out, Spooled{ID: int64(i), JSON: make([]byte, n)})
		}
		return out
	}
	for _, tc := range []struct {
		sizes []int
		want  int
	}{
		{[]int{300, 300, 300}, 3},
		{[]int{300 << 10, 300 << 10, 300 << 10}, 2},
		{[]int{900 << 10, 10}, 1},
		{[]int{10, 900 << 10}, 1},
	} {
		if got := len(boundBytes(mk(tc.sizes...), maxShipBytes)); got != tc.want {
			t.Errorf("%v: %d results shipped, want %d", tc.sizes, got, tc.want)
		}
	}
}

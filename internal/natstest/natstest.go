// Package natstest runs a NATS server with JetStream inside a test's
// process, shut down when the test ends.
package natstest

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/nines-sre/nines/config"
)

// Start runs a server on addr (host:port; empty: a free port of
// 127.0.0.1) and returns it once it takes connections.
func Start(tb testing.TB, addr string) *server.Server {
	tb.Helper()
	return StartWith(tb, addr, nil)
}

// StartWith is Start with the server's options changed by opt (users and
// their permissions, say) before it starts.
func StartWith(tb testing.TB, addr string, opt func(*server.Options)) *server.Server {
	tb.Helper()
	host, port := "127.0.0.1", -1
	if addr != "" {
		h, p, err := net.SplitHostPort(addr)
		if err != nil {
			tb.Fatal(err)
		}
		if host, port = h, 0; p != "" {
			if port, err = strconv.Atoi(p); err != nil {
				tb.Fatal(err)
			}
		}
	}
	o := &server.Options{Host: host, Port: port, JetStream: true, StoreDir: tb.TempDir(), NoLog: true, NoSigs: true}
	if opt != nil {
		opt(o)
	}
	ns, err := server.NewServer(o)
	if err != nil {
		tb.Fatal(err)
	}
	go ns.Start()
	tb.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		tb.Fatal("NATS did not start")
	}
	return ns
}

// Config is a configuration of one region (eu-london, probe token
// token) and one check, n, for tests of the NATS transport.
func Config(tb testing.TB, token string) *config.Config {
	tb.Helper()
	cfg, err := config.Parse("nats.yaml", []byte(`regions: [{id: eu-london}]
quorum: 1
probes:
  tokens: [{region: eu-london, token: `+token+`}]
components:
  - id: c
    checks: [{id: n, kind: http, http: {url: "http://127.0.0.1:9/"}}]
`))
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

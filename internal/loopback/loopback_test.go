package loopback

import (
	"net"
	"strconv"
	"testing"
)

func TestFreeAddrIsListenableLoopback(t *testing.T) {
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := strconv.Atoi(port); host != "127.0.0.1" || p < 20000 || p >= 32768 {
		t.Fatalf("FreeAddr = %s: want 127.0.0.1 below the ephemeral range", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	ln.Close()
}

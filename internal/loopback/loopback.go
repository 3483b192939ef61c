// Package loopback picks addresses on the loopback interface for the
// processes that end-to-end tests and benches start.
package loopback

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
)

// FreeAddr is a loopback address for a process to listen on, free now.
// Its port is below Linux's ephemeral range (32768 and up), so that no
// outgoing connection takes it between now and the process's start, and
// picked at random, so that tests running in parallel do not pick the
// same one.
func FreeAddr() (string, error) {
	for range 100 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		return addr, nil
	}
	return "", errors.New("no free loopback port below the ephemeral range")
}

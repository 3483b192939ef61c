package check

import (
	"context"
	"net"
	"time"

	"github.com/nines-sre/nines/model"
)

// dial resolves and connects to a host:port, timing both phases; tcp and tls
// checks share it.
func dial(ctx context.Context, address string, obs *Observation) net.Conn {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		obs.Class, obs.Err = model.ErrInternal, err
		return nil
	}
	ip := host
	if net.ParseIP(host) == nil {
		start := time.Now()
		addrs, err := net.DefaultResolver.LookupHost(ctx, host)
		obs.Phases.DNS = time.Since(start).Microseconds()
		if err != nil {
			obs.Class, obs.Err = Classify(err), err
			if obs.Class != model.ErrTimeout {
				obs.Class = model.ErrDNS
			}
			return nil
		}
		ip = addrs[0]
	}
	start := time.Now()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip, port))
	if err != nil {
		obs.Class, obs.Err = Classify(err), err
		return nil
	}
	obs.Phases.Connect = time.Since(start).Microseconds()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	return conn
}

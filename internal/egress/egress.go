// Package egress makes outbound requests to addresses that strangers give
// (status page subscribers' webhooks) safe for the network they leave
// from: every connection is checked when it is made, against the IANA
// special-purpose address registries (IPv4 and IPv6, with the IPv4 forms
// embedded in IPv6: mapped, NAT64, 6to4, Teredo), so that neither DNS
// rebinding nor a redirect reaches loopback, private networks, link-local
// addresses (cloud metadata among them) or anything else not on the
// public Internet; redirects are not followed.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrBlocked is the error of a connection to an address that is not on
// the public Internet.
var ErrBlocked = errors.New("not a public address")

// ErrRedirect is the error of a redirect, which is not followed.
var ErrRedirect = errors.New("redirects are not followed")

// special are the IANA special-purpose registries' blocks (and the
// multicast and reserved ranges) that a stranger's URL may not reach.
var special = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		// IPv4 (RFC 6890 and the registry since)
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24", "192.168.0.0/16",
		"192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		// IPv6
		"::/128", "::1/128", "::ffff:0:0/96", "::/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
		"2001:db8::/32", "2002::/16", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Public reports whether ip is an address on the public Internet: none of
// the special-purpose blocks, nor an IPv4 address of one embedded in an
// IPv6 form.
func Public(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, p := range special {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// Resolver finds a host's addresses.
type Resolver func(ctx context.Context, host string) ([]netip.Addr, error)

// Options shape a Client.
type Options struct {
	Timeout time.Duration // the whole request (default 10 s)
	// Private lets connections reach any address (an operator's choice,
	// e.g. private_webhooks); redirects are still not followed.
	Private bool
	// Resolve finds a host's addresses (default: the system's resolver).
	Resolve Resolver
}

// Client is an HTTP client for strangers' URLs: each connection goes to
// a public address only (checked on the address dialled, every time), no
// proxy from the environment, no redirect.
func Client(o Options) *http.Client {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Resolve == nil {
		o.Resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: func(network, address string, _ syscall.RawConn) error {
		if o.Private {
			return nil
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !Public(ap.Addr()) {
			return ErrBlocked
		}
		return nil
	}}
	tr := &http.Transport{
		Proxy:                 nil,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: o.Timeout,
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(address)
			if err != nil {
				return nil, err
			}
			ips, err := o.Resolve(ctx, host)
			if err != nil {
				return nil, fmt.Errorf("resolve: %w", err)
			}
			var last error = ErrBlocked
			for _, ip := range ips {
				if !o.Private && !Public(ip) {
					continue
				}
				c, err := dialer.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
				if err == nil {
					return c, nil
				}
				last = err
			}
			return nil, last
		},
	}
	return &http.Client{Timeout: o.Timeout, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return ErrRedirect }}
}

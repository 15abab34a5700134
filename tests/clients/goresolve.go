// Resolves a name with Go's own resolver (net.Resolver with PreferGo, as in CGO_ENABLED=0
// binaries, gRPC's DNS resolver included): /etc/resolv.conf, its search list and ndots.
//
//	goresolve NAME ip4|ip6|ip|srv
//
// Prints one address per line (SRV: "target port"). Exit 0 with records, 2 when the name does
// not exist, 1 otherwise.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: goresolve NAME ip4|ip6|ip|srv")
		os.Exit(64)
	}
	resolver := &net.Resolver{PreferGo: true}
	name, mode := os.Args[1], os.Args[2]
	var err error
	if mode == "srv" {
		var records []*net.SRV
		_, records, err = resolver.LookupSRV(context.Background(), "", "", name)
		for _, r := range records {
			fmt.Printf("%s %d\n", r.Target, r.Port)
		}
	} else {
		var ips []net.IP
		ips, err = resolver.LookupIP(context.Background(), mode, name)
		for _, ip := range ips {
			fmt.Println(ip.String())
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		var dnsError *net.DNSError
		if errors.As(err, &dnsError) && dnsError.IsNotFound {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

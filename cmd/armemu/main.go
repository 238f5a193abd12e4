// Command armemu runs the Azure Resource Manager emulator on a loopback address for
// end-to-end tests, the az CLI and the azure-arm builder. The first stdout line is
// "ARMEMU_URL=https://127.0.0.1:PORT/": the ARM endpoint, the Entra ID authority
// host and the token audience at once. Clients must trust the emulator's CA
// (-ca-out, or GET /_emu/ca.pem).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/armemu"
)

const usage = `Usage: armemu [flags]

Serves, over HTTPS on one loopback endpoint printed first as ARMEMU_URL=:
Entra ID client-secret tokens (/{tenant}/oauth2/v2.0/token, /{tenant}/oauth2/token),
the cloud metadata document (/metadata/endpoints), subscriptions, Compute Gallery
galleries, image definitions and versions, VMs and scale sets, resource groups,
template deployments, public IPs (all ` + armemu.PublicIP + `), VM deallocate and
generalize: what the azure-arm builder needs. With -ssh, the VMs' SSH is served
there too (printed as ARMEMU_SSH_PORT=; a template's ssh_port). Test hooks (JSON)
live under /_emu/: calls, journal, reset, faults, deny, clock, ca.pem, galleries,
images, versions, vms, scalesets.

Credentials: tenant ` + armemu.DefaultTenant + `, client ` + armemu.DefaultClientID + `,
secret ` + armemu.DefaultClientSecret + ` (unless -tenant, -client-id, -client-secret).

Flags:
`

func main() {
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), usage)
		flag.PrintDefaults()
	}
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	subs := flag.String("subscriptions", strings.Join(armemu.DefaultSubscriptions, ","), "known subscriptions, comma-separated")
	tenant := flag.String("tenant", armemu.DefaultTenant, "the tenant id")
	clientID := flag.String("client-id", armemu.DefaultClientID, "the registered app's client id")
	secret := flag.String("client-secret", armemu.DefaultClientSecret, "the registered app's client secret")
	polls := flag.Int("operation-polls", 0, "status GETs a long-running operation answers InProgress to before its end")
	pageSize := flag.Int("page-size", 50, "list items per page before a nextLink")
	start := flag.String("now", "", "start a fake clock at this RFC 3339 time (default: the real clock)")
	caOut := flag.String("ca-out", "", "write the CA certificate (PEM) to this file")
	sshAddr := flag.String("ssh", "", "also serve the VMs' SSH on this loopback address (e.g. 127.0.0.1:2222)")
	flag.Parse()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	if err := run(*addr, *subs, *tenant, *clientID, *secret, *start, *caOut, *sshAddr, *polls, *pageSize, os.Stdout, sig); err != nil {
		log.Fatal(err)
	}
}

// run serves until stop delivers, printing the URL lines to out.
func run(addr, subs, tenant, clientID, secret, start, caOut, sshAddr string, polls, pageSize int, out io.Writer, stop <-chan os.Signal) error {
	loopback := func(a string) bool {
		return strings.HasPrefix(a, "127.0.0.1:") || strings.HasPrefix(a, "localhost:") || strings.HasPrefix(a, "[::1]:")
	}
	if !loopback(addr) {
		return fmt.Errorf("refusing non-loopback address %q", addr)
	}
	if sshAddr != "" && !loopback(sshAddr) {
		return fmt.Errorf("-ssh: refusing non-loopback address %q", sshAddr)
	}
	opts := []armemu.Option{armemu.WithSubscriptions(split(subs)...), armemu.WithTenant(tenant),
		armemu.WithClientSecret(clientID, secret), armemu.WithOperationPolls(polls), armemu.WithPageSize(pageSize)}
	if start != "" {
		t, err := time.Parse(time.RFC3339, start)
		if err != nil {
			return fmt.Errorf("-now: %w", err)
		}
		opts = append(opts, armemu.WithClock(armemu.NewFakeClock(t)))
	}
	s := armemu.New(opts...)
	if caOut != "" {
		if err := os.WriteFile(caOut, s.CACertPEM(), 0o644); err != nil {
			return fmt.Errorf("-ca-out: %w", err)
		}
	}
	url, closeFn, err := s.Listen(addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "ARMEMU_URL=%s\n", url)
	if caOut != "" {
		fmt.Fprintf(out, "ARMEMU_CA=%s\n", caOut)
	}
	closeSSH := func() error { return nil }
	if sshAddr != "" {
		port, c, err := s.ServeSSH(sshAddr)
		if err != nil {
			_ = closeFn()
			return err
		}
		closeSSH = c
		fmt.Fprintf(out, "ARMEMU_SSH_PORT=%d\n", port)
	}
	<-stop
	return errors.Join(closeSSH(), closeFn())
}

func split(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

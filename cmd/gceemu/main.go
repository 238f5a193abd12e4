// Command gceemu runs the Compute Engine emulator on a loopback address for
// end-to-end tests and gcloud. The first stdout line is
// "GCEEMU_URL=http://127.0.0.1:PORT/"; the compute endpoint is that URL +
// "compute/v1/" (gcloud: api_endpoint_overrides/compute).
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/gceemu"
)

const usage = `Usage: gceemu [flags]

Serves the Compute Engine v1 REST API (JSON) under /compute/v1/ and batches under
/batch/compute/v1 on one loopback endpoint, printed first as GCEEMU_URL=. Test
hooks (JSON) live under /_emu/: calls, journal, reset, faults, deny, clock, images.

Flags:
`

func main() {
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), usage)
		flag.PrintDefaults()
	}
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	projects := flag.String("projects", strings.Join(gceemu.DefaultProjects, ","), "known projects, comma-separated")
	zones := flag.String("zones", strings.Join(gceemu.DefaultZones, ","), "served zones, comma-separated")
	token := flag.String("token", "", "answer 401 unless Authorization is \"Bearer TOKEN\"")
	polls := flag.Int("operation-polls", 0, "gets an operation answers RUNNING to before DONE")
	start := flag.String("now", "", "start a fake clock at this RFC 3339 time (default: the real clock)")
	flag.Parse()
	if err := run(*addr, *projects, *zones, *token, *start, *polls); err != nil {
		log.Fatal(err)
	}
}

func run(addr, projects, zones, token, start string, polls int) error {
	if !strings.HasPrefix(addr, "127.0.0.1:") && !strings.HasPrefix(addr, "localhost:") && !strings.HasPrefix(addr, "[::1]:") {
		return fmt.Errorf("refusing non-loopback address %q", addr)
	}
	opts := []gceemu.Option{gceemu.WithProjects(split(projects)...), gceemu.WithZones(split(zones)...), gceemu.WithOperationPolls(polls)}
	if token != "" {
		opts = append(opts, gceemu.WithRequireToken(token))
	}
	if start != "" {
		t, err := time.Parse(time.RFC3339, start)
		if err != nil {
			return fmt.Errorf("-now: %w", err)
		}
		opts = append(opts, gceemu.WithClock(gceemu.NewFakeClock(t)))
	}
	s := gceemu.New(opts...)
	url, closeFn, err := s.Listen(addr)
	if err != nil {
		return err
	}
	fmt.Printf("GCEEMU_URL=%s\n", url)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return closeFn()
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

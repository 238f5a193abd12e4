// Command ec2emu runs the EC2 emulator (with Auto Scaling and SSM on the same endpoint)
// on a loopback address for end-to-end tests. The first stdout line is
// "EC2EMU_URL=http://127.0.0.1:PORT".
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

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
)

type config struct {
	addr, state, save, accounts, region, deny string
	rateLimits                                bool
	seed                                      int64
	launchDelay, deregVisible, usageDelay     time.Duration
}

const usage = `Usage: ec2emu [flags]

Serves EC2 (Query), Auto Scaling (Query; also on the EC2 endpoint, as aws-sdk-go v1
clients send it there), SSM parameters (JSON) and Recycle Bin rules (REST-JSON) on one
loopback endpoint, printed first as EC2EMU_URL=. Point clients at it with
AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL_AUTO_SCALING, AWS_ENDPOINT_URL_SSM and
AWS_ENDPOINT_URL_RBIN (or AWS_ENDPOINT_URL). Test hooks (JSON) live under /_emu/:
state, calls, clock, accounts, deny, faults, fixture, reset-counters, journal, crash.

Flags:
`

func main() {
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), usage)
		flag.PrintDefaults()
	}
	var c config
	flag.StringVar(&c.addr, "addr", "127.0.0.1:0", "listen address (loopback only)")
	flag.StringVar(&c.state, "state", "", "JSON state file to load at start")
	flag.StringVar(&c.save, "save", "", "JSON state file to write on SIGTERM/SIGINT")
	flag.StringVar(&c.accounts, "accounts", "", "access key to account id pairs: AKID1=111111111111,AKID2=222222222222")
	flag.StringVar(&c.region, "region", "us-east-1", "region of unsigned requests")
	flag.BoolVar(&c.rateLimits, "rate-limits", false, "enforce EC2's default token buckets")
	flag.StringVar(&c.deny, "deny", "", "actions answered as unauthorized (UnauthorizedOperation with an encoded message on EC2):\nACCOUNT:Action pairs, ACCOUNT * for every account, e.g. 111111111111:DeregisterImage,*:DisableImage")
	flag.Int64Var(&c.seed, "seed", 1, "seed of the DescribeImages result order and of fault injection")
	flag.DurationVar(&c.launchDelay, "launch-report-delay", ec2emu.DefaultLaunchReportDelay, "how long after a launch lastLaunchedTime shows it (EC2: up to 24h)")
	flag.DurationVar(&c.deregVisible, "deregistered-visibility", ec2emu.DefaultDeregisteredVisibility, "how long deregistered AMIs are still listed, with state deregistered")
	flag.DurationVar(&c.usageDelay, "usage-report-delay", ec2emu.DefaultUsageReportDelay, "how long image usage reports stay pending")
	flag.Parse()
	if err := run(c); err != nil {
		log.Fatal(err)
	}
}

func run(c config) error {
	if !strings.HasPrefix(c.addr, "127.0.0.1:") && !strings.HasPrefix(c.addr, "localhost:") && !strings.HasPrefix(c.addr, "[::1]:") {
		return fmt.Errorf("refusing non-loopback address %q", c.addr)
	}
	opts := []ec2emu.Option{ec2emu.WithDefaultRegion(c.region), ec2emu.WithSeed(c.seed),
		ec2emu.WithLaunchReportDelay(c.launchDelay), ec2emu.WithDeregisteredVisibility(c.deregVisible),
		ec2emu.WithUsageReportDelay(c.usageDelay)}
	if c.rateLimits {
		opts = append(opts, ec2emu.WithRateLimits(ec2emu.DefaultRateLimits()))
	}
	s := ec2emu.New(opts...)
	if err := load(s, c.state); err != nil {
		return err
	}
	if err := eachPair(c.accounts, "=", "-accounts", s.AddAccount); err != nil {
		return err
	}
	if err := eachPair(c.deny, ":", "-deny", s.Deny); err != nil {
		return err
	}
	// Listen for signals before announcing the URL: a caller may stop us as
	// soon as it has read it, and the state must still be saved.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	url, closeFn, err := s.Listen(c.addr)
	if err != nil {
		return err
	}
	fmt.Printf("EC2EMU_URL=%s\n", url)
	<-sig
	_ = closeFn()
	return saveState(s, c.save)
}

func load(s *ec2emu.Server, path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return s.LoadState(f)
}

// eachPair calls fn for every A<sep>B of a comma-separated list.
func eachPair(spec, sep, flagName string, fn func(a, b string)) error {
	for _, pair := range strings.Split(spec, ",") {
		if pair == "" {
			continue
		}
		a, b, ok := strings.Cut(pair, sep)
		if !ok || a == "" || b == "" {
			return fmt.Errorf("bad %s entry %q (want A%sB)", flagName, pair, sep)
		}
		fn(a, b)
	}
	return nil
}

// saveState writes atomically so a crash mid-write never leaves a torn file.
func saveState(s *ec2emu.Server, path string) error {
	if path == "" {
		return nil
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := s.SaveState(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Command ec2emu runs the EC2 emulator on a loopback address for end-to-end tests.
// The first stdout line is "EC2EMU_URL=http://127.0.0.1:PORT".
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	state := flag.String("state", "", "JSON state file to load at start")
	save := flag.String("save", "", "JSON state file to write on SIGTERM/SIGINT")
	accounts := flag.String("accounts", "", "access key to account id pairs: AKID1=111111111111,AKID2=222222222222")
	region := flag.String("region", "us-east-1", "region of unsigned requests")
	rateLimits := flag.Bool("rate-limits", false, "enforce EC2's default token buckets")
	flag.Parse()
	if err := run(*addr, *state, *save, *accounts, *region, *rateLimits); err != nil {
		log.Fatal(err)
	}
}

func run(addr, state, save, accounts, region string, rateLimits bool) error {
	if !strings.HasPrefix(addr, "127.0.0.1:") && !strings.HasPrefix(addr, "localhost:") && !strings.HasPrefix(addr, "[::1]:") {
		return fmt.Errorf("refusing non-loopback address %q", addr)
	}
	opts := []ec2emu.Option{ec2emu.WithDefaultRegion(region)}
	if rateLimits {
		opts = append(opts, ec2emu.WithRateLimits(ec2emu.DefaultRateLimits()))
	}
	s := ec2emu.New(opts...)
	if err := load(s, state); err != nil {
		return err
	}
	if err := addAccounts(s, accounts); err != nil {
		return err
	}
	// Listen for signals before announcing the URL: a caller may stop us as
	// soon as it has read it, and the state must still be saved.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	url, closeFn, err := s.Listen(addr)
	if err != nil {
		return err
	}
	fmt.Printf("EC2EMU_URL=%s\n", url)
	<-sig
	_ = closeFn()
	return saveState(s, save)
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

func addAccounts(s *ec2emu.Server, spec string) error {
	for _, pair := range strings.Split(spec, ",") {
		if pair == "" {
			continue
		}
		key, id, ok := strings.Cut(pair, "=")
		if !ok || key == "" || id == "" {
			return fmt.Errorf("bad -accounts entry %q (want KEY=ACCOUNTID)", pair)
		}
		s.AddAccount(key, id)
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

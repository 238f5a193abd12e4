package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/armemu"
)

func TestRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":8443", "10.0.0.1:443"} {
		err := run(addr, "a", "t", "c", "s", "", "", "", 0, 50, io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), "non-loopback") {
			t.Fatalf("run(%q) = %v, want a non-loopback refusal", addr, err)
		}
		err = run("127.0.0.1:0", "a", "t", "c", "s", "", "", addr, 0, 50, io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), "-ssh: refusing non-loopback") {
			t.Fatalf("run(-ssh %q) = %v, want a non-loopback refusal", addr, err)
		}
	}
}

// TestServes: the first line is the URL, -ca-out writes a CA that verifies it, and
// -now starts the fake clock (seen in the token's iat).
func TestServes(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pr, pw := io.Pipe()
	stop := make(chan os.Signal)
	done := make(chan error, 1)
	go func() {
		done <- run("127.0.0.1:0", strings.Join(armemu.DefaultSubscriptions, ","), armemu.DefaultTenant, armemu.DefaultClientID,
			armemu.DefaultClientSecret, "2026-03-02T12:00:00Z", ca, "127.0.0.1:0", 0, 50, pw, stop)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		t.Fatalf("no output: %v", <-done)
	}
	line := sc.Text()
	base, ok := strings.CutPrefix(line, "ARMEMU_URL=")
	if !ok || !strings.HasPrefix(base, "https://127.0.0.1:") || !strings.HasSuffix(base, "/") {
		t.Fatalf("first line %q", line)
	}
	var sshPort string
	for sshPort == "" && sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "ARMEMU_SSH_PORT="); ok {
			sshPort = p
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	conn, err := net.Dial("tcp", "127.0.0.1:"+sshPort)
	if err != nil {
		t.Fatalf("-ssh: %v", err)
	}
	banner := make([]byte, 8)
	if _, err := io.ReadFull(conn, banner); err != nil || string(banner) != "SSH-2.0-" {
		t.Fatalf("-ssh answers %q, %v", banner, err)
	}
	conn.Close()
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("-ca-out wrote no certificate")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(base + "metadata/endpoints?api-version=2020-06-01")
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	err = json.NewDecoder(resp.Body).Decode(&docs)
	resp.Body.Close()
	if err != nil || len(docs) != 1 || docs[0]["resourceManager"] != base {
		t.Fatalf("metadata: %v %v", docs, err)
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

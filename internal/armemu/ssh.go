package armemu

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"golang.org/x/crypto/ssh"
)

// ServeSSH serves the SSH of the emulator's virtual machines on addr (their
// public IPs are all PublicIP): a client logs in as a running VM's admin user
// with a key its osProfile lists, as cloud-init would have installed it, and
// every command exits 0. It returns the port, for a template's ssh_port.
func (s *Server) ServeSSH(addr string) (port int, closeFn func() error, err error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return 0, nil, err
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return 0, nil, err
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: s.authorizedVM}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return 0, nil, err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serveSSHConn(conn, cfg)
			}()
		}
	}()
	closeFn = func() error {
		err := ln.Close()
		wg.Wait()
		return err
	}
	return ln.Addr().(*net.TCPAddr).Port, closeFn, nil
}

// authorizedVM finds a running VM whose admin user is the login and whose
// osProfile lists the key.
func (s *Server) authorizedVM(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.res {
		vm, ok := e.val.(*armcompute.VirtualMachine)
		if !ok || e.power != "running" || vm.Properties == nil || vm.Properties.OSProfile == nil {
			continue
		}
		op := vm.Properties.OSProfile
		if deref(op.AdminUsername) != meta.User() || op.LinuxConfiguration == nil || op.LinuxConfiguration.SSH == nil {
			continue
		}
		for _, pk := range op.LinuxConfiguration.SSH.PublicKeys {
			authorized, _, _, _, err := ssh.ParseAuthorizedKey([]byte(deref(pk.KeyData)))
			if err == nil && bytes.Equal(authorized.Marshal(), key.Marshal()) {
				return &ssh.Permissions{Extensions: map[string]string{"vm": e.id}}, nil
			}
		}
	}
	return nil, fmt.Errorf("no running VM lets %s in with this key", meta.User())
}

func (s *Server) serveSSHConn(conn net.Conn, cfg *ssh.ServerConfig) {
	defer conn.Close()
	sc, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "armemu serves sessions only")
			continue
		}
		ch, in, err := nc.Accept()
		if err != nil {
			continue
		}
		go s.serveSession(sc.Permissions.Extensions["vm"], ch, in)
	}
}

// serveSession runs a command by recording it and exiting 0; `scp -t DIR`
// (how Packer uploads a provisioner's script) is served as OpenSSH's sink is.
func (s *Server) serveSession(vm string, ch ssh.Channel, in <-chan *ssh.Request) {
	defer ch.Close()
	for req := range in {
		switch req.Type {
		case "exec", "shell":
			var cmd struct{ Command string }
			if req.Type == "exec" {
				_ = ssh.Unmarshal(req.Payload, &cmd)
			}
			_ = req.Reply(true, nil)
			run := SSHCommand{VM: vm, Command: cmd.Command}
			status := uint32(0)
			if f := strings.Fields(cmd.Command); len(f) == 3 && f[0] == "scp" && (f[1] == "-t" || f[1] == "-vt") {
				var err error
				if run.Uploads, err = scpSink(f[2], ch); err != nil {
					_, _ = fmt.Fprintf(ch.Stderr(), "scp: %v\n", err)
					status = 1
				}
			}
			s.faultMu.Lock()
			s.sshCommands = append(s.sshCommands, run)
			s.faultMu.Unlock()
			_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
			return
		case "pty-req", "env", "window-change":
			_ = req.Reply(true, nil)
		default:
			_ = req.Reply(false, nil)
		}
	}
}

// scpSink is the receiving end of the SCP protocol: a 0 byte when ready and
// after each header and file, C (file), D (directory) and E (end of directory)
// headers, until the client closes its input.
func scpSink(dir string, ch ssh.Channel) (map[string]string, error) {
	out := map[string]string{}
	r := bufio.NewReader(ch)
	ack := func() error { _, err := ch.Write([]byte{0}); return err }
	if err := ack(); err != nil {
		return nil, err
	}
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF && line == "" {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "C"):
			f := strings.SplitN(line, " ", 3)
			size, err := strconv.ParseInt(f[min(1, len(f)-1)], 10, 64)
			if len(f) != 3 || err != nil || size < 0 || size > 1<<20 {
				return nil, fmt.Errorf("protocol error: %q", line)
			}
			if err := ack(); err != nil {
				return nil, err
			}
			body := make([]byte, size+1) // the file and its trailing 0
			if _, err := io.ReadFull(r, body); err != nil {
				return nil, err
			}
			out[path.Join(dir, f[2])] = string(body[:size])
			if err := ack(); err != nil {
				return nil, err
			}
		case strings.HasPrefix(line, "D"):
			f := strings.SplitN(line, " ", 3)
			if len(f) != 3 {
				return nil, fmt.Errorf("protocol error: %q", line)
			}
			dir = path.Join(dir, f[2])
			if err := ack(); err != nil {
				return nil, err
			}
		case line == "E":
			dir = path.Dir(dir)
			if err := ack(); err != nil {
				return nil, err
			}
		case strings.HasPrefix(line, "T"): // times: accepted, not kept
			if err := ack(); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("protocol error: %q", line)
		}
	}
}

// SSHCommand is one command run over SSH on a VM (Command "" for a shell);
// Uploads are the files an scp sink received, by remote path.
type SSHCommand struct {
	VM, Command string
	Uploads     map[string]string
}

// SSHCommands lists the commands run over SSH, in order.
func (s *Server) SSHCommands() []SSHCommand {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return append([]SSHCommand(nil), s.sshCommands...)
}

package ec2emu

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// killPeer SIGKILLs the process that owns the client end of a TCP
// connection to us, given the client's address as the server sees it
// (RemoteAddr): its socket inode from /proc/net/tcp{,6}, then the process
// holding that socket from /proc/*/fd. It returns the pid killed and its
// executable.
func killPeer(remote string) (int, string, error) {
	pid, err := peerPID(remote)
	if err != nil {
		return 0, "", err
	}
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return 0, "", fmt.Errorf("kill -9 %d: %w", pid, err)
	}
	return pid, exe, nil
}

// PeerPID is the process that owns the client end of a TCP connection to
// this process whose client address is remote (Linux only).
func PeerPID(remote string) (int, error) { return peerPID(remote) }

func peerPID(remote string) (int, error) {
	host, port, err := net.SplitHostPort(remote)
	if err != nil {
		return 0, err
	}
	ip := net.ParseIP(host)
	p, err := strconv.Atoi(port)
	if ip == nil || err != nil {
		return 0, fmt.Errorf("bad address %q", remote)
	}
	inode := ""
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if inode, err = socketInode(table, procAddr(ip, p, table)); err != nil || inode != "" {
			break
		}
	}
	if err != nil {
		return 0, err
	}
	if inode == "" {
		return 0, fmt.Errorf("no socket with local address %s in /proc/net/tcp{,6}", remote)
	}
	want := "socket:[" + inode + "]"
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if link, err := os.Readlink(fd); err == nil && link == want {
			pid, _ := strconv.Atoi(strings.Split(fd, "/")[2])
			if pid != os.Getpid() {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no process holds socket %s (%s)", inode, remote)
}

// procAddr is ip:port as /proc/net/tcp{,6} print it: the address in
// host-order 32-bit words, in hex.
func procAddr(ip net.IP, port int, table string) string {
	var b []byte
	if strings.HasSuffix(table, "6") {
		b = ip.To16()
	} else if b = ip.To4(); b == nil {
		return ""
	}
	var sb strings.Builder
	for i := 0; i < len(b); i += 4 {
		fmt.Fprintf(&sb, "%02X%02X%02X%02X", b[i+3], b[i+2], b[i+1], b[i])
	}
	return fmt.Sprintf("%s:%04X", sb.String(), port)
}

func socketInode(table, local string) (string, error) {
	if local == "" {
		return "", nil
	}
	f, err := os.Open(table)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 10 && fields[1] == local {
			return fields[9], nil
		}
	}
	return "", sc.Err()
}

//go:build !linux

package ec2emu

import "errors"

var errNoProc = errors.New("ec2emu: crash points find the caller through /proc: Linux only")

func killPeer(string) (int, string, error) { return 0, "", errNoProc }

// PeerPID is the process that owns the client end of a TCP connection to
// this process (Linux only).
func PeerPID(string) (int, error) { return 0, errNoProc }

package e2e

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
)

// crashPoint kills the caller of the after-th mutating call it is shown
// (the GCP and Azure runs show it our plugin's), once the call took effect
// and before it is answered: a kill -9 at the worst moment. The EC2
// emulator has one of its own (ec2emu.CrashPoint).
type crashPoint struct {
	mu          sync.Mutex
	armed       bool
	after, seen int
	fired       string // the call it followed; " (kill failed: …)" when it could not kill
}

// arm sets the countdown.
func (p *crashPoint) arm(after int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed, p.after, p.seen, p.fired = true, after, 0, ""
}

// disarm stops it and says which call it followed ("" when it never fired).
func (p *crashPoint) disarm() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = false
	return p.fired
}

// serve passes r to h, except the armed call: h applies it, then its
// caller is killed and the connection answers 503.
func (p *crashPoint) serve(h http.Handler, w http.ResponseWriter, r *http.Request, mutating bool) {
	p.mu.Lock()
	fire := false
	if p.armed && p.fired == "" && mutating {
		p.seen++
		if fire = p.seen == p.after; fire {
			p.fired = r.Method + " " + r.URL.Path
		}
	}
	p.mu.Unlock()
	if !fire {
		h.ServeHTTP(w, r)
		return
	}
	h.ServeHTTP(httptest.NewRecorder(), r)
	pid, err := ec2emu.PeerPID(r.RemoteAddr)
	if err == nil {
		err = syscall.Kill(pid, syscall.SIGKILL)
	}
	if err != nil {
		p.mu.Lock()
		p.fired += " (kill failed: " + err.Error() + ")"
		p.mu.Unlock()
	}
	http.Error(w, "killed", http.StatusServiceUnavailable)
}

// Package crashpoint marks the steps of a run after which a kill -9 leaves
// something to recover from (a file moved or deleted, the catalog
// replaced), so that crash tests can kill the process at exactly the Nth
// one. Nothing in the plugin arms it: Hit does nothing unless a test in the
// same process called Arm, and no configuration or environment variable
// reaches it, so a production build cannot be made to crash here.
package crashpoint

import "sync/atomic"

var hook atomic.Pointer[func(what string)]

// Hit marks that the step what has just taken effect.
func Hit(what string) {
	if h := hook.Load(); h != nil {
		(*h)(what)
	}
}

// Arm makes every Hit call fn (tests only); the returned func disarms it.
func Arm(fn func(what string)) (disarm func()) {
	hook.Store(&fn)
	return func() { hook.Store(nil) }
}

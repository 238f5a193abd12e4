package aws

import "sync"

// perRegion is how many calls a region has in flight at once until EC2
// throttles there. One request in flight leaves the buckets idle a round
// trip per call while they have tokens (a build's retirements and a
// sweep's reads are latency-bound); once EC2 throttles, the region is
// bound by its bucket's rate, which one call at a time keeps up with (5 s⁻¹
// for actions, 20 s⁻¹ for describes, against round trips of tens of
// milliseconds), and more only multiplies the refused calls (5.6× in the
// benchmark's case 2, at a cost in CPU).
const perRegion = 8

// inFlight runs fn(0) … fn(n-1) of one region, started in that order (so
// what k waits for has started before it), up to perRegion at once until
// EC2 throttles the region during the call, then one at a time. It returns
// when all are done.
func (rc *regionClients) inFlight(n int, fn func(k int)) {
	since := rc.throttled.Load()
	lim := newLimiter(func() int {
		if rc.throttled.Load() > since {
			return 1
		}
		return perRegion
	})
	var wg sync.WaitGroup
	for k := range n {
		wg.Add(1)
		lim.acquire()
		go func() {
			defer wg.Done()
			defer lim.release()
			fn(k)
		}()
	}
	wg.Wait()
}

// limiter lets at most limit() callers hold it at once; the limit may
// change while they do.
type limiter struct {
	mu    sync.Mutex
	cond  *sync.Cond
	n     int
	limit func() int
}

func newLimiter(limit func() int) *limiter {
	l := &limiter{limit: limit}
	l.cond = sync.NewCond(&l.mu)
	return l
}

// testHookAcquire, when set, sees the limit every acquire was let in
// under.
var testHookAcquire func(limit int)

func (l *limiter) acquire() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if lim := l.limit(); l.n < lim {
			if testHookAcquire != nil {
				testHookAcquire(lim)
			}
			break
		}
		l.cond.Wait() // l.n > 0: a release will come
	}
	l.n++
}

func (l *limiter) release() {
	l.mu.Lock()
	l.n--
	l.cond.Broadcast()
	l.mu.Unlock()
}

package clock

import (
	"testing"
	"time"
)

func TestNow(t *testing.T) {
	t.Setenv(Env, "2026-03-01T12:00:00+02:00")
	got, err := Now()
	if err != nil || !got.Equal(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)) || got.Location() != time.UTC {
		t.Errorf("Now() = %v, %v", got, err)
	}
	t.Setenv(Env, "tomorrow")
	if _, err := Now(); err == nil {
		t.Errorf("a bad %s was accepted", Env)
	}
	t.Setenv(Env, "")
	if got, err := Now(); err != nil || time.Since(got) > time.Minute || time.Since(got) < -time.Minute {
		t.Errorf("wall clock: %v, %v", got, err)
	}
}

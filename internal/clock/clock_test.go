package clock

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestNow(t *testing.T) {
	t.Setenv(Env, "2026-03-01T12:00:00+02:00")
	got, err := Now()
	if assert.NoError(t, err) {
		assert.True(t, got.Equal(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)), "Now() = %v", got)
		assert.Equal(t, time.UTC, got.Location(), "Now() = %v", got)
	}
	t.Setenv(Env, "tomorrow")
	_, err = Now()
	assert.Error(t, err, "a bad %s was accepted", Env)
	t.Setenv(Env, "0001-01-01T00:00:00Z")
	_, err = Now()
	assert.ErrorContains(t, err, "year 1 is out of range 1970..9999")
	t.Setenv(Env, "")
	got, err = Now()
	if assert.NoError(t, err, "wall clock") {
		assert.WithinDuration(t, time.Now(), got, time.Minute, "wall clock: %v", got)
	}
}

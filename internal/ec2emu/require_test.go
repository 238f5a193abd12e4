package ec2emu

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// requireT is a minimal stand-in for testify's require: testify cannot be built in this
// module until go.sum gains go.yaml.in/yaml/v3, and go.sum is not this package's file.
type requireT struct{}

var require requireT

func msg(args []any) string {
	if len(args) == 0 {
		return ""
	}
	if f, ok := args[0].(string); ok {
		return ": " + fmt.Sprintf(f, args[1:]...)
	}
	return ": " + fmt.Sprint(args...)
}

func (requireT) NoError(t testing.TB, err error, a ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v%s", err, msg(a))
	}
}

func (requireT) Error(t testing.TB, err error, a ...any) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an error%s", msg(a))
	}
}

func (requireT) Equal(t testing.TB, want, got any, a ...any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("not equal:\n want %#v\n  got %#v%s", want, got, msg(a))
	}
}

func (requireT) True(t testing.TB, v bool, a ...any) {
	t.Helper()
	if !v {
		t.Fatalf("expected true%s", msg(a))
	}
}

func (requireT) False(t testing.TB, v bool, a ...any) {
	t.Helper()
	if v {
		t.Fatalf("expected false%s", msg(a))
	}
}

func length(v any) int {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return 0
	}
	return rv.Len()
}

func (requireT) Len(t testing.TB, v any, n int, a ...any) {
	t.Helper()
	if l := length(v); l != n {
		t.Fatalf("expected length %d, got %d%s", n, l, msg(a))
	}
}

func (requireT) Empty(t testing.TB, v any, a ...any) {
	t.Helper()
	if l := length(v); l != 0 {
		t.Fatalf("expected empty, got length %d%s", l, msg(a))
	}
}

func (requireT) NotEmpty(t testing.TB, v any, a ...any) {
	t.Helper()
	if length(v) == 0 {
		t.Fatalf("expected non-empty%s", msg(a))
	}
}

func (requireT) Nil(t testing.TB, v any, a ...any) {
	t.Helper()
	if v != nil && !reflect.ValueOf(v).IsNil() {
		t.Fatalf("expected nil, got %#v%s", v, msg(a))
	}
}

func (requireT) NotNil(t testing.TB, v any, a ...any) {
	t.Helper()
	if v == nil || reflect.ValueOf(v).IsNil() {
		t.Fatalf("expected non-nil%s", msg(a))
	}
}

func (requireT) Contains(t testing.TB, s, sub string, a ...any) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%q does not contain %q%s", s, sub, msg(a))
	}
}

func (requireT) Regexp(t testing.TB, re, s string, a ...any) {
	t.Helper()
	if !regexp.MustCompile(re).MatchString(s) {
		t.Fatalf("%q does not match %s%s", s, re, msg(a))
	}
}

func (requireT) LessOrEqual(t testing.TB, x, y int, a ...any) {
	t.Helper()
	if x > y {
		t.Fatalf("%d > %d%s", x, y, msg(a))
	}
}

func (requireT) Greater(t testing.TB, x, y int, a ...any) {
	t.Helper()
	if x <= y {
		t.Fatalf("%d <= %d%s", x, y, msg(a))
	}
}

func (requireT) NotEqual(t testing.TB, a, b any, m ...any) {
	t.Helper()
	if reflect.DeepEqual(a, b) {
		t.Fatalf("both equal %#v%s", a, msg(m))
	}
}

package configs

import (
	"testing"
	"time"
)

func TestRecursiveAliasesEnd(t *testing.T) {
	for _, s := range []string{"receivers: &x {recv: *x}", "receivers: {recv: {tags: &y [*y]}}", "node: &n {labels: *n}"} {
		done := make(chan struct{})
		go func() { Parse("a", []byte(s), testFactories(), noEnv); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			t.Fatalf("hang on %q", s)
		}
	}
}

package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the scripts in testdata/script run flabsync as a real
// command (testscript re-executes this test binary as "flabsync").
//
// With FLABSYNC_TEST_MAIN=1 the test binary is flabsync itself, so tests
// can run it as a real child process (and kill -9 it).
func TestMain(m *testing.M) {
	if os.Getenv("FLABSYNC_TEST_MAIN") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := NewMain().Run(ctx, os.Args[1:])
		stop()
		os.Exit(code)
	}
	testscript.Main(m, map[string]func(){
		"flabsync": func() { os.Exit(NewMain().Run(context.Background(), os.Args[1:])) },
	})
}

// TestScripts runs the CLI scripts: what a user types, what they see, and
// the exit code.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("FLABSYNC_CONFIG", "")
			env.Setenv("LOG_LEVEL", "")
			env.Setenv("LOG_FORMAT", "")
			return nil
		},
	})
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/reconcile/webhook"
)

// listenRig is `flabsync webhooks listen` as a real child process on a
// SQLite file, and the events a sender delivers to it.
type listenRig struct {
	t      *testing.T
	dir    string
	url    string
	addr   string
	bodies [][]byte
	keys   []string
}

func newListenRig(t *testing.T, bookings int) *listenRig {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := &listenRig{t: t, dir: t.TempDir(), addr: addr, url: "http://" + addr + "/hooks"}
	cfg := fmt.Sprintf("database: sqlite:%s\nwebhook:\n  listen: %s\n  path: /hooks\n  auth_token: tok-123\nlog:\n  level: warn\n",
		filepath.Join(r.dir, "flabsync.db"), addr)
	if err := os.WriteFile(filepath.Join(r.dir, "flabsync.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	for i := range bookings {
		id, bill := fmt.Sprintf("sunrise:K-%04d", i), fmt.Sprintf("bill-%04d", i)
		for j, typ := range []string{flabs.EventBillCreated, flabs.EventReportCompleted, flabs.EventBillCompleted} {
			b, _ := json.Marshal(flabs.Event{EventType: typ, EventTime: t0.Add(time.Duration(j) * time.Hour).Unix(),
				Data: flabs.EventData{BillID: bill, IntegratorID: id, BillData: flabs.BillData{Status: "x",
					TestData: []flabs.TestStatus{{ID: "t1", Status: map[bool]string{true: "completed", false: "pending"}[j > 0]}}}}})
			ev, err := webhook.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			r.bodies, r.keys = append(r.bodies, b), append(r.keys, ev.Key)
		}
	}
	return r
}

// start runs the receiver and waits until it accepts connections.
func (r *listenRig) start() *exec.Cmd {
	r.t.Helper()
	cmd := child(r.t, r.dir, "webhooks", "listen")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", r.addr)
		if err == nil {
			c.Close()
			return cmd
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			r.t.Fatalf("receiver not listening after 20s: %v\n%s", err, stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deliver posts the bodies from 8 senders and returns the answer status
// of each ("" when the connection failed). stop is called once after the
// first n answers of 200.
func (r *listenRig) deliver(n int, stop func()) []string {
	client := &http.Client{Timeout: 10 * time.Second}
	status := make([]string, len(r.bodies))
	var mu sync.Mutex
	ok := 0
	work := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range work {
				req, _ := http.NewRequest(http.MethodPost, r.url, bytes.NewReader(r.bodies[i]))
				req.Header.Set("Authorization", "Bearer tok-123")
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				var a struct{ Status string }
				json.NewDecoder(resp.Body).Decode(&a)
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode == 200 {
					status[i] = a.Status
					if ok++; ok == n && stop != nil {
						stop()
					}
				} else {
					status[i] = fmt.Sprint(resp.StatusCode)
				}
				mu.Unlock()
			}
		})
	}
	for i := range r.bodies {
		work <- i
	}
	close(work)
	wg.Wait()
	return status
}

// stored returns the dedupe keys in the database and the bookings
// completed.
func (r *listenRig) stored() (keys map[string]int, completed int) {
	r.t.Helper()
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(r.dir, "flabsync.db"))
	if err != nil {
		r.t.Fatal(err)
	}
	defer db.Close()
	var rows []struct {
		Key        string `db:"dedupe_key"`
		Deliveries int    `db:"deliveries"`
	}
	if err := db.Select(&rows, `SELECT dedupe_key, deliveries FROM webhook_events`); err != nil {
		r.t.Fatal(err)
	}
	keys = map[string]int{}
	for _, row := range rows {
		keys[row.Key] = row.Deliveries
	}
	db.Get(&completed, `SELECT COUNT(*) FROM booking_state WHERE state = 'completed'`)
	return keys, completed
}

// The receiver is killed (kill -9, and SIGTERM) part-way through a burst
// of deliveries, and started again; the sender then delivers everything
// once more, as a sender that is not sure would. Every delivery answered
// 200 before the kill is in the database (an answer means stored), each
// event ends up stored exactly once, and the repeats are recognised.
func TestWebhooksListenRestart(t *testing.T) {
	t.Parallel() // it waits on child processes, mostly: it runs beside the others
	if testing.Short() {
		t.Skip("runs flabsync as a child process")
	}
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			r := newListenRig(t, 100)
			cmd := r.start()
			var once sync.Once
			first := r.deliver(120, func() { once.Do(func() { cmd.Process.Signal(sig) }) })
			err := cmd.Wait()
			if sig == syscall.SIGTERM && err != nil {
				t.Errorf("after SIGTERM the receiver exited with %v, want a clean stop", err)
			}
			acked := 0
			keys, _ := r.stored()
			for i, s := range first {
				if s == "stored" || s == "duplicate" {
					acked++
					if keys[r.keys[i]] == 0 {
						t.Errorf("delivery %d was answered %q but is not in the database after %s", i, s, sig)
					}
				} else if s != "" && s != "503" {
					t.Errorf("delivery %d answered %s", i, s)
				}
			}
			if acked < 120 || acked == len(r.bodies) {
				t.Fatalf("%d of %d deliveries answered before the %s; the test wants the stop in the middle", acked, len(r.bodies), sig)
			}

			cmd = r.start()
			again := r.deliver(0, nil)
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			keys, completed := r.stored()
			for i, s := range again {
				answered := first[i] == "stored" || first[i] == "duplicate"
				// Not answered the first time: it may or may not have been stored.
				if answered && s != "duplicate" || !answered && s != "stored" && s != "duplicate" {
					t.Errorf("redelivery %d answered %q (first answer %q)", i, s, first[i])
				}
			}
			if len(keys) != len(r.bodies) || completed != 100 {
				t.Errorf("%d events stored, %d bookings completed; want %d and 100", len(keys), completed, len(r.bodies))
			}
			t.Logf("%s after %d answers; %d events in all", sig, acked, len(keys))
		})
	}
}

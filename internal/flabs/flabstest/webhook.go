package flabstest

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
)

func (s *Server) handleSubscribe(w http.ResponseWriter, r *http.Request, req *Request) {
	var in flabs.SubscribeRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&in); err != nil {
		s.fail(w, http.StatusBadRequest, "request body must be a JSON object with events, endpoint and protocol")
		return
	}
	if f := s.fault(w, r, s.nextCallKey(), req); f == "fail" || f == "drop" {
		return
	} else if f == "timeout" {
		s.hang(w, r)
		return
	}
	known := []string{flabs.EventBillCreated, flabs.EventBillCompleted, flabs.EventBillDeleted,
		flabs.EventReportCompleted, flabs.EventLeadCreated, flabs.EventBookingCreated}
	switch {
	case in.LabID == "" && s.opts.RequireLabID:
		s.fail(w, http.StatusBadRequest, "labID is required")
		return
	case in.LabID != "" && !s.knownLab(in.LabID):
		s.fail(w, http.StatusBadRequest, fmt.Sprintf("labID %q is unknown", in.LabID))
		return
	case len(in.Events) == 0:
		s.fail(w, http.StatusBadRequest, "events is required")
		return
	case in.Endpoint == "":
		s.fail(w, http.StatusBadRequest, "endpoint is required")
		return
	case in.Protocol == "":
		s.fail(w, http.StatusBadRequest, "protocol is required")
		return
	case in.Protocol != "https":
		s.fail(w, http.StatusBadRequest, fmt.Sprintf("protocol must be https (got %q)", in.Protocol))
		return
	}
	for i, e := range in.Events {
		if !slices.Contains(known, e) {
			s.fail(w, http.StatusBadRequest, fmt.Sprintf("events[%d] %q is not a known event", i, e))
			return
		}
	}
	u, err := url.Parse(in.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(s.opts.AllowHTTPWebhooks && u.Scheme == "http")) {
		s.fail(w, http.StatusBadRequest, "endpoint must be an https URL")
		return
	}
	party := 0
	if in.CorporateUser != "" {
		party++
	}
	if in.Organization != "" {
		party++
	}
	switch {
	case !s.opts.PartyScoped && party > 0:
		s.fail(w, http.StatusBadRequest, "corporateUser/organization are only for party-scoped accounts")
		return
	case s.opts.PartyScoped && party == 0:
		s.fail(w, http.StatusBadRequest, "party-scoped accounts must send corporateUser or organization")
		return
	case party > 1:
		s.fail(w, http.StatusBadRequest, "send corporateUser or organization, not both")
		return
	}
	sub := Subscription{LabID: in.LabID, Events: in.Events, Endpoint: in.Endpoint, AuthToken: in.AuthToken,
		CorporateUser: in.CorporateUser, Organization: in.Organization}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.PartyScoped {
		for _, old := range s.subs {
			if old.CorporateUser == sub.CorporateUser && old.Organization == sub.Organization &&
				slices.ContainsFunc(old.Events, func(e string) bool { return slices.Contains(sub.Events, e) }) {
				s.writeError(w, http.StatusConflict, "a webhook for this party and event already exists")
				return
			}
		}
	} else { // catch-all: the new endpoint replaces the old one for these events
		for i := range s.subs {
			s.subs[i].Events = slices.DeleteFunc(slices.Clone(s.subs[i].Events), func(e string) bool { return slices.Contains(sub.Events, e) })
		}
		s.subs = slices.DeleteFunc(s.subs, func(o Subscription) bool { return len(o.Events) == 0 })
	}
	s.subs = append(s.subs, sub)
	s.writeJSON(w, http.StatusOK, map[string]any{"success": true, "message": "Events subscribed successfully"})
}

// target returns where an event goes and with which token.
func (s *Server) target(eventType string) (endpoint, token string) {
	wo := &s.opts.Webhooks
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.subs) - 1; i >= 0; i-- {
		if slices.Contains(s.subs[i].Events, eventType) {
			endpoint, token = s.subs[i].Endpoint, s.subs[i].AuthToken
			break
		}
	}
	if wo.URL != "" {
		endpoint = wo.URL
	}
	if wo.AuthToken != "" {
		token = wo.AuthToken
	}
	return endpoint, token
}

// Delivery is one webhook POST the simulator made (or meant to make).
type Delivery struct {
	Event     flabs.Event
	Body      []byte
	Duplicate bool   // the second copy of a duplicated delivery
	Status    int    // receiver's answer; 0 if none
	Err       string // transport error, or "no subscriber"
}

type pending struct {
	due time.Time // simulated
	seq uint64
	ev  flabs.Event
	dup bool
}

type queue []*pending

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if !q[i].due.Equal(q[j].due) {
		return q[i].due.Before(q[j].due)
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*pending)) }
func (q *queue) Pop() any {
	old := *q
	p := old[len(old)-1]
	*q = old[:len(old)-1]
	return p
}

// emitter turns bookings into webhook timelines and delivers them.
type emitter struct {
	s         *Server
	http      *http.Client
	realStart time.Time

	mu         sync.Mutex
	q          queue
	seq        uint64
	simNow     time.Time // manual mode only
	deliveries []Delivery
	dropped    []flabs.Event
	inflight   int

	wake      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newEmitter(s *Server) *emitter {
	e := &emitter{
		s:         s,
		http:      s.opts.Webhooks.Client,
		realStart: time.Now(),
		simNow:    s.opts.Webhooks.Start,
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	if s.opts.Webhooks.Manual {
		close(e.done)
	} else {
		go e.run()
	}
	return e
}

// now is the simulated time: the manual clock, or Start plus real time
// elapsed times Speed.
func (e *emitter) now() time.Time {
	wo := &e.s.opts.Webhooks
	if wo.Manual {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.simNow
	}
	return wo.Start.Add(time.Duration(float64(time.Since(e.realStart)) * wo.Speed))
}

// SimNow returns the simulator's webhook clock: the time stamped on
// events being created now.
func (s *Server) SimNow() time.Time { return s.hooks.now() }

// schedule lays out the events of one booking's bill.
func (e *emitter) schedule(b *Booking) {
	o := &e.s.opts
	wo := &o.Webhooks
	bill := b.BillID
	// Faults are drawn per booking (its integrator ID), not per bill: bill
	// IDs are handed out in arrival order, so a run with the same seed and
	// the same bookings meets the same faults whatever order they came in.
	who := b.Request.IntegratorID
	if who == "" {
		who = bill
	}
	if chance(o.Seed, "nobill", who) < wo.NoBillRate {
		return
	}
	req := &b.Request
	n := len(req.MappedTests) + len(req.UnmappedTests) + len(req.MappedPackages) + len(req.UnmappedPackages)
	for _, p := range req.UnmappedPackagesWithTests {
		n += max(1, len(p.Tests))
	}
	tests := make([]flabs.TestStatus, n)
	for i := range tests {
		tests[i] = flabs.TestStatus{ID: hashID(o.Seed, bill, fmt.Sprint(i)), Status: "pending"}
	}
	if chance(o.Seed, "missing", who) < wo.MissingReportRate && n > 1 {
		tests = tests[:n-1]
	}
	lab := req.LabID
	if lab == "" && len(o.Labs) > 0 {
		lab = o.Labs[0].ID
	}
	mk := func(typ, status string, at time.Time, url string) flabs.Event {
		td := append([]flabs.TestStatus(nil), tests...)
		return flabs.Event{LabID: lab, EventType: typ, EventTime: at.Unix(), Data: flabs.EventData{
			BillID: bill, IntegratorID: req.IntegratorID, BillData: flabs.BillData{Status: status, TestData: td}, ReportURL: url}}
	}
	t := e.now().Add(wo.CreatedAfter)
	evs := []flabs.Event{mk(flabs.EventBillCreated, "created", t, "")}
	switch {
	case chance(o.Seed, "delete", who) < wo.DeleteRate:
		evs = append(evs, mk(flabs.EventBillDeleted, "deleted", t.Add(wo.DeletedAfter), ""))
	default:
		reports := len(tests)
		stalled := chance(o.Seed, "stall", who) < wo.StallRate
		if stalled {
			reports /= 2
		}
		for i := range reports {
			t = t.Add(wo.ReportEvery)
			tests[i].Status = "completed"
			evs = append(evs, mk(flabs.EventReportCompleted, "partially_completed", t, ""))
		}
		if !stalled {
			t = t.Add(wo.CompletedAfter)
			evs = append(evs, mk(flabs.EventBillCompleted, "completed", t, "https://reports.flabs.invalid/"+bill+".pdf"))
		}
	}
	for i, ev := range evs {
		e.enqueue(ev, fmt.Sprintf("%s/%d", who, i))
	}
}

// enqueue applies the delivery faults to one event and queues it.
func (e *emitter) enqueue(ev flabs.Event, key string) {
	o := &e.s.opts
	wo := &o.Webhooks
	due := ev.Time()
	if chance(o.Seed, "wdrop", key) < wo.DropRate {
		e.mu.Lock()
		e.dropped = append(e.dropped, ev)
		e.mu.Unlock()
		return
	}
	if chance(o.Seed, "reorder", key) < wo.ReorderRate {
		due = due.Add(2*wo.ReportEvery + wo.CompletedAfter)
	}
	dup := chance(o.Seed, "wdup", key) < wo.DuplicateRate
	e.mu.Lock()
	e.seq++
	heap.Push(&e.q, &pending{due: due, seq: e.seq, ev: ev})
	if dup {
		e.seq++
		heap.Push(&e.q, &pending{due: due.Add(time.Second), seq: e.seq, ev: ev, dup: true})
	}
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// InjectEvent queues ev for delivery at its EventTime, with the delivery
// faults applied; for events Flabs would send on its own, such as bills
// made by lab staff (orphans).
func (s *Server) InjectEvent(ev flabs.Event) {
	s.hooks.enqueue(ev, fmt.Sprintf("inject/%s/%s/%d", ev.EventType, ev.Data.BillID, ev.EventTime))
}

// Advance moves the manual webhook clock by d and delivers, in order,
// every event due by then. It returns the number of deliveries made. It
// panics unless Options.Webhooks.Manual.
func (s *Server) Advance(ctx context.Context, d time.Duration) int {
	e := s.hooks
	if !s.opts.Webhooks.Manual {
		panic("flabstest: Advance needs Options.Webhooks.Manual")
	}
	e.mu.Lock()
	e.simNow = e.simNow.Add(d)
	until := e.simNow
	e.mu.Unlock()
	n := 0
	for ctx.Err() == nil {
		p := e.popDue(until)
		if p == nil {
			break
		}
		e.deliver(ctx, p)
		n++
	}
	return n
}

// Pending returns the number of deliveries still queued (or being sent).
func (s *Server) Pending() int {
	e := s.hooks
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.q) + e.inflight
}

// Deliveries returns every delivery attempted, in order.
func (s *Server) Deliveries() []Delivery {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	return append([]Delivery(nil), s.hooks.deliveries...)
}

// DroppedEvents returns the events the simulator chose never to deliver.
func (s *Server) DroppedEvents() []flabs.Event {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	return append([]flabs.Event(nil), s.hooks.dropped...)
}

func (e *emitter) popDue(until time.Time) *pending {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.q) == 0 || e.q[0].due.After(until) {
		return nil
	}
	e.inflight++
	return heap.Pop(&e.q).(*pending)
}

// run is the real-time dispatcher: it waits for the next event's due
// time (scaled by Speed) and hands it to a small pool of senders.
func (e *emitter) run() {
	ctx, cancel := context.WithCancel(context.Background())
	work := make(chan *pending)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for p := range work {
				e.deliver(ctx, p)
			}
		})
	}
	defer func() { // stop: abandon in-flight deliveries, wait for senders
		cancel()
		close(work)
		wg.Wait()
		close(e.done)
	}()
	speed := e.s.opts.Webhooks.Speed
	for {
		if p := e.popDue(e.now()); p != nil {
			select {
			case work <- p:
				continue
			case <-e.stop:
				return
			}
		}
		wait := time.Hour
		e.mu.Lock()
		if len(e.q) > 0 {
			wait = time.Duration(float64(e.q[0].due.Sub(e.now())) / speed)
		}
		e.mu.Unlock()
		t := time.NewTimer(max(wait, time.Millisecond))
		select {
		case <-t.C:
		case <-e.wake:
			t.Stop()
		case <-e.stop:
			t.Stop()
			return
		}
	}
}

func (e *emitter) close() {
	e.closeOnce.Do(func() { close(e.stop) })
	<-e.done
}

// deliver POSTs one event and records the outcome.
func (e *emitter) deliver(ctx context.Context, p *pending) {
	defer func() {
		e.mu.Lock()
		e.inflight--
		e.mu.Unlock()
	}()
	body, _ := json.Marshal(p.ev)
	d := Delivery{Event: p.ev, Body: body, Duplicate: p.dup}
	endpoint, token := e.s.target(p.ev.EventType)
	if endpoint == "" {
		d.Err = "no subscriber"
	} else if req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body)); err != nil {
		d.Err = err.Error()
	} else {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "flabs-webhooks-sim")
		if token != "" {
			req.Header.Set(e.s.opts.Webhooks.Header, e.s.opts.Webhooks.Scheme+token)
		}
		if resp, err := e.http.Do(req); err != nil {
			d.Err = err.Error()
		} else {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			d.Status = resp.StatusCode
		}
	}
	e.mu.Lock()
	e.deliveries = append(e.deliveries, d)
	e.mu.Unlock()
}

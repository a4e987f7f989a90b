// Package webhook receives Flabs' webhook deliveries: authenticated,
// durable, deduplicated and safe in any order.
//
// Flabs sends no event ID, no signature and promises no retries
// (flabs-api.md §4.2), so the receiver is the careful one:
//
//   - Only POST; the token of webhook.auth_token, in the header
//     webhook.auth_header ("Bearer <token>" or bare), compared in constant
//     time; bodies up to webhook.max_body.
//   - Every body is stored as received in webhook_raw, also one that does
//     not parse (answered 400 with the reason, and replayable after a fix).
//   - Each event gets a dedupe key from its payload (Key). A repeat is
//     answered 200 and counted on the stored event (its deliveries column), not
//     stored twice.
//   - New events are folded into booking_state, booking_bills and
//     booking_reports by the order-free state machine of package
//     reconcile. Events for integrator IDs flabsync never sent are kept
//     and marked orphan, counted (Stats.Orphans) and logged as a summary:
//     one line at most every OrphanLogInterval, and a last one at Close.
//   - With Options.LabID (flabs.lab_id) set, an event naming another
//     labID is stored, marked other_lab and counted (Stats.OtherLab), and
//     never folded nor an orphan: another lab's integrator and bill IDs
//     say nothing about our bookings. An event naming no labID is ours.
//   - 200 only after the transaction holding the body, the event and the
//     fold has committed. Writes are group-committed: a writer goroutine
//     takes every delivery waiting (up to Options.MaxBatch) into one
//     transaction, so one commit (and on SQLite one fsync, with
//     synchronous=FULL for it) serves many requests. On PostgreSQL a
//     batch is three pgx pipelines, and the bookings it folds are locked
//     in integrator-ID order, so several receivers can share a database.
//
// # API
//
//	r := webhook.New(db, cfg.Webhook, logger) // writers start here; logger as given (nil discards)
//	defer r.Close()                           // waits for deliveries in flight, stops the writers
//	err := r.ListenAndServe(ctx)              // webhook.listen, TLS if set; graceful stop when ctx ends
//
// or r.Serve(ctx, listener) on a listener of your own, or mount
// r.Handler() at cfg.Webhook.Path on your own mux. NewWithOptions tunes
// writers, batch size and the shutdown timeout. r.Stats() returns plain
// counters (received, stored, duplicates, rejected by reason, failed,
// orphans) for /metrics. r.Ingest stores one body without HTTP (replay).
// Parse and Key are the payload parser and the dedupe key on their own.
package webhook

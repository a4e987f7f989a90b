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
//     answered 200 and counted on the stored event (webhook_events.
//     deliveries), not stored twice.
//   - New events are folded into booking_state, booking_bills and
//     booking_reports by the order-free state machine of package
//     reconcile. Events for integrator IDs flabsync never sent are kept
//     and marked orphan.
//   - 200 only after the transaction holding the body, the event and the
//     fold has committed. Writes are group-committed: a writer goroutine
//     takes every delivery waiting (up to Options.MaxBatch) into one
//     transaction, so one commit (and on SQLite one fsync, with
//     synchronous=FULL on the writer's connection) serves many requests.
//
// # API
//
//	r := webhook.New(db, cfg.Webhook, logger) // writers start here
//	defer r.Close()                           // drains in-flight deliveries
//	err := r.ListenAndServe(ctx)              // webhook.listen, TLS if set; graceful stop on ctx
//
// or mount r.Handler() at cfg.Webhook.Path on a mux of your own.
// r.Stats() returns plain counters (received, stored, duplicates,
// rejected by reason, failed, orphans) for /metrics. r.Ingest stores one
// body without HTTP (replay). Parse and Key are the payload parser and
// dedupe key on their own.
package webhook

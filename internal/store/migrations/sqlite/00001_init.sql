-- +goose Up
-- One row per file picked up from the inbox (or given to `flabsync import`).
CREATE TABLE files (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    partner        TEXT        NOT NULL,
    name           TEXT        NOT NULL,
    path           TEXT        NOT NULL DEFAULT '',
    sha256         TEXT        NOT NULL,
    size_bytes     INTEGER      NOT NULL DEFAULT 0,
    status         TEXT        NOT NULL DEFAULT 'claimed',
    reason         TEXT        NOT NULL DEFAULT '',
    duplicate_of   INTEGER      REFERENCES files (id),
    rows_total     INTEGER     NOT NULL DEFAULT 0,
    rows_valid     INTEGER     NOT NULL DEFAULT 0,
    rows_rejected  INTEGER     NOT NULL DEFAULT 0,
    rows_duplicate INTEGER     NOT NULL DEFAULT 0,
    rows_skipped   INTEGER     NOT NULL DEFAULT 0,
    claimed_by     TEXT        NOT NULL DEFAULT '',
    created_at     TEXT        NOT NULL,
    updated_at     TEXT        NOT NULL,
    finished_at    TEXT       
);
CREATE INDEX files_sha256 ON files (sha256);
CREATE INDEX files_status ON files (status);

-- Every sheet row read, valid or not: the per-file conservation ledger.
CREATE TABLE sheet_rows (
    file_id       INTEGER  NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    sheet         TEXT    NOT NULL DEFAULT '',
    row_num       INTEGER NOT NULL,
    status        TEXT    NOT NULL,
    code          TEXT    NOT NULL DEFAULT '',
    message       TEXT    NOT NULL DEFAULT '',
    integrator_id TEXT,
    PRIMARY KEY (file_id, sheet, row_num)
);
CREATE INDEX sheet_rows_integrator ON sheet_rows (integrator_id);

-- One booking per integrator ID: the submission ledger.
CREATE TABLE bookings (
    integrator_id    TEXT PRIMARY KEY,
    partner          TEXT        NOT NULL,
    file_id          INTEGER REFERENCES files (id),
    first_row        INTEGER     NOT NULL DEFAULT 0,
    status           TEXT        NOT NULL DEFAULT 'pending',
    request          TEXT        NOT NULL DEFAULT '',
    attempts         INTEGER     NOT NULL DEFAULT 0,
    last_http_status INTEGER     NOT NULL DEFAULT 0,
    last_error       TEXT        NOT NULL DEFAULT '',
    pre_booking_id   TEXT        NOT NULL DEFAULT '',
    next_attempt_at  TEXT       ,
    claimed_by       TEXT        NOT NULL DEFAULT '',
    claimed_until    TEXT       ,
    created_at       TEXT        NOT NULL,
    updated_at       TEXT        NOT NULL,
    submitted_at     TEXT       
);
CREATE INDEX bookings_status ON bookings (status, next_attempt_at);
CREATE INDEX bookings_file ON bookings (file_id);

-- The tests and packages of a booking, as written and as mapped.
CREATE TABLE booking_tests (
    integrator_id TEXT    NOT NULL REFERENCES bookings (integrator_id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    kind          TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    target        TEXT    NOT NULL DEFAULT '',
    target_key    TEXT    NOT NULL DEFAULT '',
    match_how     TEXT    NOT NULL DEFAULT 'none',
    PRIMARY KEY (integrator_id, position)
);

-- Local name -> Flabs ID. scope '' means every partner.
CREATE TABLE mappings (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    scope      TEXT        NOT NULL DEFAULT '',
    kind       TEXT        NOT NULL,
    local_name TEXT        NOT NULL,
    norm_key   TEXT        NOT NULL,
    target     TEXT        NOT NULL,
    target_key TEXT        NOT NULL DEFAULT 'id',
    source     TEXT        NOT NULL,
    created_at TEXT        NOT NULL,
    created_by TEXT        NOT NULL DEFAULT '',
    UNIQUE (scope, kind, norm_key)
);

CREATE TABLE labs (
    id        TEXT PRIMARY KEY,
    name      TEXT        NOT NULL,
    raw       TEXT        NOT NULL DEFAULT '',
    synced_at TEXT        NOT NULL
);

-- Flabs' tests and packages as last synced.
CREATE TABLE catalogue (
    kind      TEXT        NOT NULL,
    id        TEXT        NOT NULL,
    flabs_id  TEXT        NOT NULL DEFAULT '',
    code      TEXT        NOT NULL DEFAULT '',
    name      TEXT        NOT NULL,
    norm_key  TEXT        NOT NULL,
    cost      REAL NOT NULL DEFAULT 0,
    lab_id    TEXT        NOT NULL DEFAULT '',
    active    INTEGER     NOT NULL DEFAULT 1,
    raw       TEXT        NOT NULL DEFAULT '',
    synced_at TEXT        NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX catalogue_norm ON catalogue (kind, norm_key);

-- Every webhook body exactly as received, before anything else happens.
CREATE TABLE webhook_raw (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT        NOT NULL,
    remote      TEXT        NOT NULL DEFAULT '',
    body        BLOB        NOT NULL,
    dedupe_key  TEXT        NOT NULL DEFAULT '',
    status      TEXT        NOT NULL,
    error       TEXT        NOT NULL DEFAULT ''
);

-- Parsed, de-duplicated events.
CREATE TABLE webhook_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    raw_id        INTEGER      NOT NULL REFERENCES webhook_raw (id),
    dedupe_key    TEXT        NOT NULL UNIQUE,
    event         TEXT        NOT NULL,
    integrator_id TEXT        NOT NULL DEFAULT '',
    bill_id       TEXT        NOT NULL DEFAULT '',
    test_key      TEXT        NOT NULL DEFAULT '',
    event_time    TEXT       ,
    received_at   TEXT        NOT NULL
);
CREATE INDEX webhook_events_integrator ON webhook_events (integrator_id);

-- The monotone state per integrator ID: deleted > completed > created.
CREATE TABLE booking_state (
    integrator_id     TEXT PRIMARY KEY,
    state             TEXT        NOT NULL,
    bill_id           TEXT        NOT NULL DEFAULT '',
    bills_seen        INTEGER     NOT NULL DEFAULT 0,
    reports_completed INTEGER     NOT NULL DEFAULT 0,
    created_at        TEXT       ,
    completed_at      TEXT       ,
    deleted_at        TEXT       ,
    last_event_at     TEXT       ,
    updated_at        TEXT        NOT NULL
);

CREATE TABLE booking_bills (
    integrator_id TEXT        NOT NULL,
    bill_id       TEXT        NOT NULL,
    first_seen    TEXT        NOT NULL,
    PRIMARY KEY (integrator_id, bill_id)
);

CREATE TABLE booking_reports (
    integrator_id TEXT        NOT NULL,
    test_key      TEXT        NOT NULL,
    completed_at  TEXT        NOT NULL,
    PRIMARY KEY (integrator_id, test_key)
);

-- Work items for the operations team, with a stable ID.
CREATE TABLE exceptions (
    id               TEXT PRIMARY KEY,
    category         TEXT        NOT NULL,
    integrator_id    TEXT        NOT NULL DEFAULT '',
    partner          TEXT        NOT NULL DEFAULT '',
    file_id          INTEGER,
    detail           TEXT        NOT NULL DEFAULT '',
    suggested_action TEXT        NOT NULL DEFAULT '',
    status           TEXT        NOT NULL DEFAULT 'open',
    first_seen       TEXT        NOT NULL,
    last_seen        TEXT        NOT NULL,
    resolved_at      TEXT       
);
CREATE INDEX exceptions_status ON exceptions (status, category);

CREATE TABLE job_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job         TEXT        NOT NULL,
    holder      TEXT        NOT NULL DEFAULT '',
    status      TEXT        NOT NULL,
    summary     TEXT        NOT NULL DEFAULT '',
    error       TEXT        NOT NULL DEFAULT '',
    started_at  TEXT        NOT NULL,
    finished_at TEXT       
);
CREATE INDEX job_runs_job ON job_runs (job, started_at);

-- Named, time-limited locks: one scheduled job at a time across processes.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT        NOT NULL,
    acquired_at TEXT        NOT NULL,
    expires_at  TEXT        NOT NULL
);

-- +goose Down
DROP TABLE leases;
DROP TABLE job_runs;
DROP TABLE exceptions;
DROP TABLE booking_reports;
DROP TABLE booking_bills;
DROP TABLE booking_state;
DROP TABLE webhook_events;
DROP TABLE webhook_raw;
DROP TABLE catalogue;
DROP TABLE labs;
DROP TABLE mappings;
DROP TABLE booking_tests;
DROP TABLE bookings;
DROP TABLE sheet_rows;
DROP TABLE files;

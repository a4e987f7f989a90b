-- +goose Up
-- A clinic's receipt for a file is a row here, written in the same
-- transaction as the file's final state: a receipt not yet sent when the
-- process dies is sent by whichever process is alive. A sender claims a
-- row for claimed_until (a lease), mails it and
-- marks it sent; a failed send comes due again at next_at (back-off)
-- until max attempts, then it is given up (given_up_at, last_error).
CREATE TABLE receipt_outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    file_id       INTEGER     NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    partner       TEXT        NOT NULL,
    name          TEXT        NOT NULL,
    reason        TEXT        NOT NULL DEFAULT '',
    attempts      INTEGER     NOT NULL DEFAULT 0,
    next_at       TEXT        NOT NULL,
    claimed_by    TEXT        NOT NULL DEFAULT '',
    claimed_until TEXT,
    last_error    TEXT        NOT NULL DEFAULT '',
    created_at    TEXT        NOT NULL,
    sent_at       TEXT,
    given_up_at   TEXT
);
CREATE INDEX receipt_outbox_due ON receipt_outbox (next_at) WHERE sent_at IS NULL AND given_up_at IS NULL;
CREATE INDEX receipt_outbox_file ON receipt_outbox (file_id);

-- +goose Down
DROP TABLE receipt_outbox;

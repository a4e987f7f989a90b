-- +goose Up
-- Each nightly run's open exceptions per category: the digest shows the
-- last seven runs, so ops see whether the report converges.
CREATE TABLE reconcile_runs (
    at        TIMESTAMPTZ NOT NULL,
    category  TEXT    NOT NULL,
    open      INTEGER NOT NULL,
    PRIMARY KEY (at, category)
);

-- +goose Down
DROP TABLE reconcile_runs;

-- +goose Up
-- The Flabs rate limit of the lab, one row per Flabs account, shared by
-- every process on this database (pipeline/submit SharedLimiter): the
-- token bucket's next free slot and the memory of the last 429 (the rate
-- it cut to, when, the pause Retry-After asked for), as JSON. A process
-- takes its slots from it in a short transaction; one process's 429 slows
-- them all. SQLite keeps the table for the schemas' sake; one process
-- there limits itself in memory.
CREATE TABLE flabs_limit (
    name       TEXT PRIMARY KEY,
    state      TEXT        NOT NULL DEFAULT '{}',
    updated_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE flabs_limit;

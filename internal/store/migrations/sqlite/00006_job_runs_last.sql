-- +goose Up
-- status reads the last run of each job: one index step per job,
-- however many runs the minutely import job has piled up.
CREATE INDEX job_runs_job_id ON job_runs (job, id);

-- +goose Down
DROP INDEX job_runs_job_id;

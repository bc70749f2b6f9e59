-- When each background job last started a run that succeeded: the periodic reconcile looks
-- back from there, so an outage of any length is caught up (shared by every instance).
CREATE TABLE job_runs (
    name TEXT PRIMARY KEY NOT NULL,
    last_success_started_at BIGINT NOT NULL
);

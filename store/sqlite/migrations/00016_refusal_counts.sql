-- Refused token requests per tenant ("" when the request named no known
-- tenant), UTC hour and error_code: the same increments as the token
-- endpoint's counter authz_token_requests_total{outcome="refused"},
-- counted in memory and added here by every replica's usage flush
-- (usage.Recorder), so that the console's refusals chart shows every
-- refusal across replicas and restarts, not the audit log's samples.
-- hour is Unix microseconds of the start of the hour; rows older than 90
-- days are purged with the hourly use counts (PurgeAlertState).

-- +goose Up
CREATE TABLE refusal_counts (
    tenant_id  TEXT NOT NULL,
    hour       INTEGER NOT NULL,
    error_code TEXT NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, hour, error_code)
) STRICT;
CREATE INDEX refusal_counts_hour ON refusal_counts (hour);

-- +goose Down
DROP TABLE refusal_counts;

-- The threshold outbox (SPEC §8.4): one event per (user, group, period, percent), kept until the
-- host acknowledges it, so that a notification is sent once even across retries.

CREATE TABLE ai_budget_events (
    id             uuid        NOT NULL,
    user_id        uuid        NOT NULL,
    group_id       uuid        NOT NULL,
    period_start   timestamptz NOT NULL,
    percent        integer     NOT NULL,
    limit_micros   bigint      NOT NULL,
    spent_micros   bigint      NOT NULL,
    at             timestamptz NOT NULL,
    acknowledged   boolean     NOT NULL DEFAULT false,
    CONSTRAINT ai_budget_events_pkey PRIMARY KEY (id),
    CONSTRAINT ai_budget_events_once UNIQUE (user_id, group_id, period_start, percent),
    CONSTRAINT ai_budget_events_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX ai_budget_events_pending_idx ON ai_budget_events (at, id) WHERE NOT acknowledged;

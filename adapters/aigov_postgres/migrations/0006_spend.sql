-- Recorded spend (SPEC §8.2): usage records with the price they were charged at, the daily ledger,
-- and the period counters that enforcement guards (SPEC §8.3). Group and organization ids carry
-- no foreign key: spend history survives the deletion of a group, and stays exportable by the
-- organization it was spent in.

CREATE TABLE ai_usage_records (
    id                  uuid        NOT NULL,
    user_id             uuid        NOT NULL,
    effective_group_id  uuid        NOT NULL,
    organization_id     uuid        NOT NULL,
    provider            text        COLLATE "C" NOT NULL,
    model               text        COLLATE "C" NOT NULL,
    input_tokens        bigint      NOT NULL,
    output_tokens       bigint      NOT NULL,
    cache_read_tokens   bigint      NOT NULL,
    cache_write_tokens  bigint      NOT NULL,
    price_source        text,
    input_price         bigint,
    output_price        bigint,
    cache_read_price    bigint,
    cache_write_price   bigint,
    cost_micros         bigint      NOT NULL,
    unpriced_kinds      text[]      NOT NULL DEFAULT '{}',
    at                  timestamptz NOT NULL,
    day                 date        NOT NULL,
    period_start        timestamptz NOT NULL,
    idempotency_key     text,
    reservation_id      uuid,
    overrun_micros      bigint      NOT NULL DEFAULT 0,
    CONSTRAINT ai_usage_records_pkey PRIMARY KEY (id),
    CONSTRAINT ai_usage_records_reservation_id_key UNIQUE (reservation_id),
    CONSTRAINT ai_usage_records_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ai_usage_records_user_id_idempotency_key_key UNIQUE (user_id, idempotency_key),
    CONSTRAINT ai_usage_records_amounts_not_negative CHECK (
        cost_micros >= 0 AND input_tokens >= 0 AND output_tokens >= 0
        AND cache_read_tokens >= 0 AND cache_write_tokens >= 0
    )
);
CREATE INDEX ai_usage_records_user_at_idx ON ai_usage_records (user_id, at);

CREATE TABLE ai_user_daily_spend (
    user_id             uuid   NOT NULL,
    effective_group_id  uuid   NOT NULL,
    organization_id     uuid   NOT NULL,
    day                 date   NOT NULL,
    spend_micros        bigint NOT NULL,
    CONSTRAINT ai_user_daily_spend_pkey PRIMARY KEY (user_id, effective_group_id, day),
    CONSTRAINT ai_user_daily_spend_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ai_user_daily_spend_spend_micros_check CHECK (spend_micros >= 0)
);

CREATE INDEX ai_user_daily_spend_export_idx
    ON ai_user_daily_spend (organization_id, day, user_id, effective_group_id);

CREATE TABLE ai_spend_counters (
    user_id       uuid        NOT NULL,
    group_id      uuid        NOT NULL,
    period_start  timestamptz NOT NULL,
    spent_micros  bigint      NOT NULL DEFAULT 0,
    held_micros   bigint      NOT NULL DEFAULT 0,
    CONSTRAINT ai_spend_counters_pkey PRIMARY KEY (user_id, group_id, period_start),
    CONSTRAINT ai_spend_counters_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ai_spend_counters_amounts_not_negative
        CHECK (spent_micros >= 0 AND held_micros >= 0)
);

-- Holds (SPEC §8.3). A hold counts in its counter's held_micros while its state is 'held'; it is
-- taken off the counter exactly once, when it expires, is settled or is released.
CREATE TABLE ai_spend_reservations (
    id             uuid        NOT NULL,
    user_id        uuid        NOT NULL,
    group_id       uuid        NOT NULL,
    period_start   timestamptz NOT NULL,
    amount_micros  bigint      NOT NULL,
    expires_at     timestamptz NOT NULL,
    created_at     timestamptz NOT NULL,
    state          text        NOT NULL DEFAULT 'held',
    CONSTRAINT ai_spend_reservations_pkey PRIMARY KEY (id),
    CONSTRAINT ai_spend_reservations_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ai_spend_reservations_amount_positive CHECK (amount_micros > 0),
    CONSTRAINT ai_spend_reservations_state_known
        CHECK (state IN ('held', 'expired', 'settled', 'released'))
);
CREATE INDEX ai_spend_reservations_counter_idx
    ON ai_spend_reservations (user_id, group_id, period_start, expires_at) WHERE state = 'held';

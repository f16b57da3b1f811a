-- The deployment's settings (SPEC §8.0): one row, written by the first Governance that uses the
-- database; every later one must agree.

CREATE TABLE ai_governance_settings (
    singleton   boolean     NOT NULL DEFAULT true,
    settings    jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ai_governance_settings_pkey PRIMARY KEY (singleton),
    CONSTRAINT ai_governance_settings_singleton CHECK (singleton)
);

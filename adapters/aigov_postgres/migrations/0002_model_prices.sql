-- The price book of SPEC §3: one row per (provider, model, source). Prices are micros per one
-- million tokens; NULL means unknown and 0 means free. Seeds write 'pricebook' rows only, custom
-- prices are 'custom' rows, so a seed never overwrites an administrator's price. Provider and
-- model sort and compare by code point (COLLATE "C"), as every store does, whatever the
-- database's default collation.

CREATE TABLE ai_model_prices (
    provider           text        COLLATE "C" NOT NULL,
    model              text        COLLATE "C" NOT NULL,
    source             text        NOT NULL DEFAULT 'pricebook',
    input_price        bigint,
    output_price       bigint,
    cache_read_price   bigint,
    cache_write_price  bigint,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ai_model_prices_pkey PRIMARY KEY (provider, model, source),
    CONSTRAINT ai_model_prices_source_known CHECK (source IN ('pricebook', 'custom')),
    CONSTRAINT ai_model_prices_provider_length CHECK (char_length(provider) BETWEEN 1 AND 255),
    CONSTRAINT ai_model_prices_model_length CHECK (char_length(model) BETWEEN 1 AND 255),
    CONSTRAINT ai_model_prices_prices_not_negative CHECK (
        input_price >= 0 AND output_price >= 0 AND cache_read_price >= 0 AND cache_write_price >= 0
    )
);

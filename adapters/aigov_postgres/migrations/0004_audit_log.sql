-- The audit log of SPEC §10. No foreign keys: an entry outlives what it describes.
--
-- The library names who acts and when with transaction-local settings (aigov.actor, aigov.now);
-- entries written by the database itself (cascades) read them, and name the SQL role when
-- another writer acted.

CREATE TABLE ai_audit_log (
    id             bigint      GENERATED ALWAYS AS IDENTITY,
    at             timestamptz NOT NULL DEFAULT now(),
    actor          text        NOT NULL,
    action         text        NOT NULL,
    resource_type  text        NOT NULL,
    resource_id    text        NOT NULL,
    before         jsonb,
    after          jsonb,
    CONSTRAINT ai_audit_log_pkey PRIMARY KEY (id),
    CONSTRAINT ai_audit_log_action_known
        CHECK (action IN ('create', 'update', 'delete', 'seed', 'cascade_delete')),
    CONSTRAINT ai_audit_log_resource_type_known CHECK (
        resource_type IN ('group_budget', 'user_budget_override', 'custom_price', 'price_book')
    )
);
CREATE INDEX ai_audit_log_resource_idx ON ai_audit_log (resource_type, resource_id, id);
CREATE INDEX ai_audit_log_actor_idx ON ai_audit_log (actor, id);

CREATE FUNCTION audit_actor() RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, @schema@, pg_temp
AS $$
    SELECT coalesce(nullif(current_setting('aigov.actor', true), ''), 'sql:' || session_user)
$$;

CREATE FUNCTION audit_time() RETURNS timestamptz
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, @schema@, pg_temp
AS $$
    SELECT coalesce(nullif(current_setting('aigov.now', true), '')::timestamptz, now())
$$;

-- Every override deleted by a cascade (a trigger or a foreign key acting, so below the top
-- level) is audited here, in one place, whoever removed the membership, user or group. A
-- top-level DELETE is the library's own (which audits it as 'delete') or another writer's.
CREATE FUNCTION user_ai_budget_overrides_audit_cascade() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, @schema@, pg_temp
AS $$
BEGIN
    IF pg_trigger_depth() > 1 THEN
        INSERT INTO ai_audit_log (at, actor, action, resource_type, resource_id, before, after)
        VALUES (audit_time(), audit_actor(), 'cascade_delete', 'user_budget_override',
                OLD.user_id::text,
                jsonb_build_object('user_id', OLD.user_id::text,
                                   'group_id', OLD.group_id::text,
                                   'spend_limit_micros', OLD.spend_limit_micros),
                NULL);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER user_ai_budget_overrides_audit_cascade
    AFTER DELETE ON user_ai_budget_overrides
    FOR EACH ROW EXECUTE FUNCTION user_ai_budget_overrides_audit_cascade();

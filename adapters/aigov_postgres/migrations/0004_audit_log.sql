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

-- Every override deleted by a cascade is audited here, in one place, whoever removed the
-- membership, user or group. Cascades are trigger functions (the membership triggers of 0003 and
-- the two below), so a cascaded DELETE runs below the top trigger level; a top-level DELETE is the
-- library's own (which audits it as 'delete') or another writer's. The foreign keys' own ON DELETE
-- CASCADE would run at the top level and so pass unaudited: the triggers below delete the
-- overrides of a user or group before the row goes, and the foreign keys find nothing left.
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

CREATE FUNCTION users_cascade_overrides() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, @schema@, pg_temp
AS $$
BEGIN
    DELETE FROM user_ai_budget_overrides WHERE user_id = OLD.id;
    RETURN OLD;
END
$$;
CREATE TRIGGER users_cascade_overrides
    BEFORE DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_cascade_overrides();

CREATE FUNCTION groups_cascade_budgets() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, @schema@, pg_temp
AS $$
BEGIN
    DELETE FROM user_ai_budget_overrides WHERE group_id = OLD.id;
    DELETE FROM group_ai_budgets WHERE group_id = OLD.id;
    RETURN OLD;
END
$$;
CREATE TRIGGER groups_cascade_budgets
    BEFORE DELETE ON groups
    FOR EACH ROW EXECUTE FUNCTION groups_cascade_budgets();

-- A group budget deleted with its group is audited the same way.
CREATE FUNCTION group_ai_budgets_audit_cascade() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, @schema@, pg_temp
AS $$
BEGIN
    IF pg_trigger_depth() > 1 THEN
        INSERT INTO ai_audit_log (at, actor, action, resource_type, resource_id, before, after)
        VALUES (audit_time(), audit_actor(), 'cascade_delete', 'group_budget', OLD.group_id::text,
                jsonb_build_object('group_id', OLD.group_id::text,
                                   'spend_limit_micros', OLD.spend_limit_micros),
                NULL);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER group_ai_budgets_audit_cascade
    AFTER DELETE ON group_ai_budgets
    FOR EACH ROW EXECUTE FUNCTION group_ai_budgets_audit_cascade();

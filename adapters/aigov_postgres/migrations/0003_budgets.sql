-- Group budgets and user overrides (SPEC §4, §5), with the membership invariant enforced for every
-- writer and under concurrent transactions.
--
-- Why not the seed's CHECK (is_group_member(user_id, group_id)): a CHECK calling a STABLE function
-- reads a snapshot. It can pass on a membership that a concurrent, not yet committed transaction is
-- deleting, while that deletion's cascade cannot see the not yet committed override: both commit,
-- and an override of a non-member remains. Instead, a constraint trigger *locks* the membership row
-- the override relies on (FOR KEY SHARE): a concurrent removal then either waits for the override
-- to commit and cascades to it, or has removed the row first, and the lock finds nothing.

CREATE TABLE group_ai_budgets (
    group_id            uuid        NOT NULL,
    spend_limit_micros  bigint      NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT group_ai_budgets_pkey PRIMARY KEY (group_id),
    CONSTRAINT group_ai_budgets_group_id_fkey
        FOREIGN KEY (group_id) REFERENCES groups (id) ON DELETE CASCADE,
    CONSTRAINT group_ai_budgets_spend_limit_micros_check CHECK (spend_limit_micros >= 0)
);

CREATE TABLE user_ai_budget_overrides (
    user_id             uuid        NOT NULL,
    group_id            uuid        NOT NULL,
    spend_limit_micros  bigint      NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_ai_budget_overrides_pkey PRIMARY KEY (user_id),
    CONSTRAINT user_ai_budget_overrides_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT user_ai_budget_overrides_group_id_fkey
        FOREIGN KEY (group_id) REFERENCES groups (id) ON DELETE CASCADE,
    CONSTRAINT user_ai_budget_overrides_spend_limit_micros_check CHECK (spend_limit_micros >= 0)
);
CREATE INDEX user_ai_budget_overrides_group_id_idx ON user_ai_budget_overrides (group_id);

-- The invariant: the override's user is an expanded member of its group, checked with a lock.
CREATE FUNCTION user_ai_budget_overrides_check_membership() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, @schema@, pg_temp
AS $$
DECLARE
    group_organization uuid;
BEGIN
    SELECT g.organization_id INTO group_organization FROM groups g WHERE g.id = NEW.group_id;
    IF group_organization = NEW.group_id THEN
        -- An Everyone group: its members are the organization's members.
        PERFORM 1 FROM organization_members
         WHERE organization_id = group_organization AND user_id = NEW.user_id
           FOR KEY SHARE;
    ELSE
        PERFORM 1 FROM group_members
         WHERE group_id = NEW.group_id AND user_id = NEW.user_id
           FOR KEY SHARE;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % is not a member of group %, so no override may attribute their spend to it',
                NEW.user_id, NEW.group_id
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'user_ai_budget_overrides_must_be_group_member',
                  TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA;
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER user_ai_budget_overrides_must_be_group_member
    AFTER INSERT OR UPDATE OF user_id, group_id ON user_ai_budget_overrides
    FOR EACH ROW EXECUTE FUNCTION user_ai_budget_overrides_check_membership();

-- The cascades of SPEC §5.3, in volatile trigger functions: each statement sees the latest
-- committed overrides, including one whose writer this removal waited for.
CREATE FUNCTION group_members_cascade_overrides() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, @schema@, pg_temp
AS $$
BEGIN
    DELETE FROM user_ai_budget_overrides
     WHERE user_id = OLD.user_id AND group_id = OLD.group_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER group_members_cascade_overrides
    AFTER DELETE ON group_members
    FOR EACH ROW EXECUTE FUNCTION group_members_cascade_overrides();

CREATE FUNCTION organization_members_cascade_overrides() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, @schema@, pg_temp
AS $$
BEGIN
    DELETE FROM user_ai_budget_overrides o
     USING groups g
     WHERE o.user_id = OLD.user_id
       AND o.group_id = g.id
       AND g.organization_id = OLD.organization_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER organization_members_cascade_overrides
    AFTER DELETE ON organization_members
    FOR EACH ROW EXECUTE FUNCTION organization_members_cascade_overrides();

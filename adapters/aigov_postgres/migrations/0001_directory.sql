-- The directory of SPEC §2, enforced for every SQL writer and under concurrent transactions.
--
-- Race-free by construction: what could be a check-then-act trigger is a foreign key instead.
-- group_members carries its group's organization_id (filled by a trigger), so
--   (group_id, organization_id)  -> groups (id, organization_id)                ON DELETE CASCADE
--   (organization_id, user_id)   -> organization_members (organization_id, user_id) ON DELETE CASCADE
-- and PostgreSQL's own key-share locks decide every race between "add to group" and "leave the
-- organization": the add waits for the removal and fails, or the removal waits and cascades.
--
-- @schema@ is replaced by the store's quoted schema name; every function pins its search_path.

CREATE TABLE organizations (
    id          uuid        NOT NULL,
    name        text        NOT NULL,
    is_default  boolean     NOT NULL DEFAULT false,
    deleted     boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT organizations_pkey PRIMARY KEY (id),
    CONSTRAINT organizations_name_length CHECK (char_length(name) BETWEEN 1 AND 255)
);
-- At most one default organization.
CREATE UNIQUE INDEX organizations_single_default ON organizations ((true)) WHERE is_default;

CREATE TABLE users (
    id          uuid        NOT NULL,
    username    text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_username_length CHECK (char_length(username) BETWEEN 1 AND 255)
);

CREATE TABLE organization_members (
    user_id          uuid        NOT NULL,
    organization_id  uuid        NOT NULL,
    roles            text[]      NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT organization_members_pkey PRIMARY KEY (organization_id, user_id),
    CONSTRAINT organization_members_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT organization_members_organization_id_fkey
        FOREIGN KEY (organization_id) REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT organization_members_roles_known CHECK (
        roles <@ ARRAY['organization-admin', 'organization-user-admin',
                       'organization-auditor', 'organization-member']::text[]
    )
);
CREATE INDEX organization_members_user_id_idx ON organization_members (user_id);

CREATE TABLE groups (
    id               uuid NOT NULL,
    organization_id  uuid NOT NULL,
    name             text NOT NULL,
    CONSTRAINT groups_pkey PRIMARY KEY (id),
    CONSTRAINT groups_organization_id_fkey
        FOREIGN KEY (organization_id) REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT groups_organization_id_name_key UNIQUE (organization_id, name),
    -- The target of group_members' composite foreign key.
    CONSTRAINT groups_id_organization_id_key UNIQUE (id, organization_id),
    CONSTRAINT groups_name_length CHECK (char_length(name) BETWEEN 1 AND 255)
);

CREATE TABLE group_members (
    user_id          uuid NOT NULL,
    group_id         uuid NOT NULL,
    organization_id  uuid NOT NULL,
    CONSTRAINT group_members_pkey PRIMARY KEY (group_id, user_id),
    CONSTRAINT group_members_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT group_members_group_id_fkey
        FOREIGN KEY (group_id, organization_id) REFERENCES groups (id, organization_id)
        ON DELETE CASCADE,
    CONSTRAINT group_members_organization_member_fkey
        FOREIGN KEY (organization_id, user_id)
        REFERENCES organization_members (organization_id, user_id) ON DELETE CASCADE
);
CREATE INDEX group_members_user_id_idx ON group_members (user_id, organization_id);

-- Expanded membership: ordinary memberships, and every organization member in the Everyone group.
CREATE VIEW group_members_expanded AS
    SELECT user_id, group_id, organization_id FROM group_members
    UNION ALL
    SELECT user_id, organization_id AS group_id, organization_id FROM organization_members;

-- A predicate for reads. It is STABLE and so sees a snapshot: never rely on it to guard a write.
CREATE FUNCTION is_group_member(p_user_id uuid, p_group_id uuid) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, @schema@, pg_temp
AS $$
    SELECT EXISTS (
        SELECT 1 FROM group_members_expanded
        WHERE user_id = p_user_id AND group_id = p_group_id
    )
$$;

-- Every organization has exactly one Everyone group whose id is the organization's id.
CREATE FUNCTION organizations_create_everyone_group() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, @schema@, pg_temp
AS $$
BEGIN
    INSERT INTO groups (id, organization_id, name) VALUES (NEW.id, NEW.id, 'Everyone');
    RETURN NULL;
END
$$;
CREATE TRIGGER organizations_create_everyone_group
    AFTER INSERT ON organizations
    FOR EACH ROW EXECUTE FUNCTION organizations_create_everyone_group();

-- An Everyone group goes only with its organization (the foreign key's cascade may delete it).
CREATE FUNCTION groups_keep_everyone_group() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, @schema@, pg_temp
AS $$
BEGIN
    IF OLD.id = OLD.organization_id
       AND EXISTS (SELECT 1 FROM organizations WHERE id = OLD.organization_id) THEN
        RAISE EXCEPTION 'group % is the Everyone group of its organization and is deleted only with it',
                OLD.id
            USING ERRCODE = 'restrict_violation',
                  CONSTRAINT = 'groups_everyone_group_undeletable',
                  TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA;
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER groups_everyone_group_undeletable
    BEFORE DELETE ON groups
    FOR EACH ROW EXECUTE FUNCTION groups_keep_everyone_group();

-- group_members: fill organization_id from the group, and refuse what the foreign keys cannot
-- express (a direct member of an Everyone group). The user check only names the error well; the
-- foreign keys still decide races.
CREATE FUNCTION group_members_fill_organization() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, @schema@, pg_temp
AS $$
DECLARE
    group_organization uuid;
BEGIN
    SELECT g.organization_id INTO group_organization FROM groups g WHERE g.id = NEW.group_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no group has id %', NEW.group_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'group_members_group_id_fkey',
                  TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA;
    END IF;
    IF group_organization = NEW.group_id THEN
        RAISE EXCEPTION 'group % is an Everyone group: its members are its organization''s members',
                NEW.group_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'group_members_not_everyone_group',
                  TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA;
    END IF;
    IF NEW.organization_id IS NOT NULL AND NEW.organization_id <> group_organization THEN
        RAISE EXCEPTION 'group % belongs to organization %, not %',
                NEW.group_id, group_organization, NEW.organization_id
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'group_members_organization_matches_group',
                  TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM users WHERE id = NEW.user_id) THEN
        RAISE EXCEPTION 'no user has id %', NEW.user_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'group_members_user_id_fkey',
                  TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA;
    END IF;
    NEW.organization_id := group_organization;
    RETURN NEW;
END
$$;
CREATE TRIGGER group_members_fill_organization
    BEFORE INSERT ON group_members
    FOR EACH ROW EXECUTE FUNCTION group_members_fill_organization();

-- Key columns never change: a moved membership or group would slip past the foreign keys'
-- cascades. TG_ARGV names the key columns of the table.
CREATE FUNCTION refuse_key_column_update() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, @schema@, pg_temp
AS $$
DECLARE
    old_row jsonb := to_jsonb(OLD);
    new_row jsonb := to_jsonb(NEW);
    key_column text;
BEGIN
    FOREACH key_column IN ARRAY TG_ARGV LOOP
        IF old_row -> key_column IS DISTINCT FROM new_row -> key_column THEN
            RAISE EXCEPTION 'the key column %.% cannot be updated; delete and insert instead',
                    TG_TABLE_NAME, key_column
                USING ERRCODE = 'check_violation',
                      CONSTRAINT = TG_TABLE_NAME || '_key_columns_immutable',
                      TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = key_column;
        END IF;
    END LOOP;
    RETURN NEW;
END
$$;
CREATE TRIGGER organizations_key_columns_immutable
    BEFORE UPDATE ON organizations
    FOR EACH ROW EXECUTE FUNCTION refuse_key_column_update('id');
CREATE TRIGGER users_key_columns_immutable
    BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION refuse_key_column_update('id');
CREATE TRIGGER organization_members_key_columns_immutable
    BEFORE UPDATE ON organization_members
    FOR EACH ROW EXECUTE FUNCTION refuse_key_column_update('user_id', 'organization_id');
CREATE TRIGGER groups_key_columns_immutable
    BEFORE UPDATE ON groups
    FOR EACH ROW EXECUTE FUNCTION refuse_key_column_update('id', 'organization_id');
CREATE TRIGGER group_members_key_columns_immutable
    BEFORE UPDATE ON group_members
    FOR EACH ROW EXECUTE FUNCTION refuse_key_column_update('user_id', 'group_id', 'organization_id');

-- TRUNCATE fires no row triggers and so no cascade: refuse it on the membership tables (a
-- TRUNCATE ... CASCADE of a parent table reaches them too, and is refused with them).
CREATE FUNCTION refuse_truncate() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, @schema@, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'TRUNCATE of % is refused: it would bypass the membership rules; use DELETE',
            TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation', CONSTRAINT = TG_TABLE_NAME || '_no_truncate',
              TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA;
END
$$;
CREATE TRIGGER organization_members_no_truncate
    BEFORE TRUNCATE ON organization_members
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
CREATE TRIGGER group_members_no_truncate
    BEFORE TRUNCATE ON group_members
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();

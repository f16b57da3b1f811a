-- SPEC §7 in SQL, once: the user's effective budget. The hot path's statements, the reports and
-- any other SQL writer or reader ask this function; the core's aigov.resolution.resolve is the
-- specification, and the equivalence machine keeps the two equal on random worlds.
--   1. an override whose group's organization is not deleted: its limit and group;
--   2. else the highest (p_policy 'lowest': the lowest) budget of the user's expanded groups in
--      organizations that are not deleted, ties to the earliest organization membership, then
--      the smallest group id;
--   3. else no limit, in the Everyone group (id = the organization's) of the default
--      organization if the user is a member of it, else of the earliest joined (then smallest
--      id).
-- No row when the user belongs to no organization that is not deleted, or is unknown.
--
-- A single SELECT in LANGUAGE sql, STABLE, not STRICT and without SET options: PostgreSQL
-- inlines it into the calling statement, so a caller's plan is the plan of the query itself.
-- That is also why the tables are named with their schema here instead of by a pinned
-- search_path.

CREATE FUNCTION effective_budget(p_user_id uuid, p_policy text)
    RETURNS TABLE (spend_limit_micros bigint, group_id uuid, source text)
    LANGUAGE sql STABLE
AS $$
    WITH live AS (
        SELECT om.organization_id, om.created_at AS joined_at, o.is_default
        FROM @schema@.organization_members AS om
        JOIN @schema@.organizations AS o ON o.id = om.organization_id
        WHERE om.user_id = p_user_id AND NOT o.deleted
    )
    SELECT candidate.spend_limit_micros, candidate.group_id, candidate.source
    FROM (
        (SELECT ov.spend_limit_micros, ov.group_id, 'user_override' AS source, 1 AS step
         FROM @schema@.user_ai_budget_overrides AS ov
         JOIN @schema@.groups AS g ON g.id = ov.group_id
         WHERE ov.user_id = p_user_id
           AND g.organization_id IN (SELECT organization_id FROM live))
        UNION ALL
        (SELECT b.spend_limit_micros, b.group_id, 'group', 2
         FROM @schema@.group_members_expanded AS v
         JOIN @schema@.group_ai_budgets AS b ON b.group_id = v.group_id
         JOIN live ON live.organization_id = v.organization_id
         WHERE v.user_id = p_user_id
         ORDER BY CASE WHEN p_policy = 'lowest' THEN b.spend_limit_micros END,
                  b.spend_limit_micros DESC, live.joined_at, b.group_id
         LIMIT 1)
        UNION ALL
        (SELECT NULL::bigint, organization_id, NULL, 3
         FROM live
         ORDER BY is_default DESC, joined_at, organization_id
         LIMIT 1)
    ) AS candidate
    ORDER BY candidate.step
    LIMIT 1
$$;

-- The customer web app (customer_web/) reads the warehouse as its own role, customer_web,
-- which can read only what the app needs, and row-level security restricts every read to
-- the signed-in customer: the app sets hover.customer_id per transaction
-- (set_config(..., true), i.e. SET LOCAL) and a query that forgot its WHERE still returns
-- nothing of anybody else's. PostgreSQL variant (local stack).
--
-- Roles are cluster-wide: the role may exist already (another database of the cluster, or
-- the local stack, which creates it at start with a login password from its secrets). It is
-- created here without a login: production gives it one (or IAM) outside the repo.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'customer_web') THEN
        CREATE ROLE customer_web NOLOGIN;
    END IF;
END
$$;

-- The app's own state: one-time sign-in links and server-side sessions. Only SHA-256
-- hashes of the tokens are stored: a copy of these tables signs nobody in.
CREATE SCHEMA IF NOT EXISTS customer_web;

CREATE TABLE customer_web.sign_in_link (
    token_sha256     char(64)          NOT NULL PRIMARY KEY,
    customer_id      bigint            NOT NULL,
    created_at       timestamptz       NOT NULL,
    expires_at       timestamptz       NOT NULL,
    used_at          timestamptz
);

CREATE TABLE customer_web.session (
    id_sha256        char(64)          NOT NULL PRIMARY KEY,
    customer_id      bigint            NOT NULL,
    created_at       timestamptz       NOT NULL,
    expires_at       timestamptz       NOT NULL,
    revoked_at       timestamptz
);
-- "Sign out everywhere" revokes every session of one customer.
CREATE INDEX session_customer_idx ON customer_web.session (customer_id);

GRANT USAGE ON SCHEMA customer_web TO customer_web;
GRANT SELECT, INSERT, UPDATE ON customer_web.sign_in_link, customer_web.session TO customer_web;
GRANT USAGE ON SCHEMA fleet TO customer_web;
GRANT SELECT ON fleet.customer, fleet.trip TO customer_web;

-- Row-level security on the two fleet tables the app reads. Every other role keeps reading
-- every row (the permissive policy for PUBLIC); for customer_web a restrictive policy is
-- ANDed with it. The sinks connect as the tables' owner (a superuser locally), which
-- bypasses row-level security anyway, so FORCE is not needed. An unset setting reads as
-- NULL (current_setting(..., true)) or as '' once a transaction has set it: NULLIF makes
-- both match no row.
ALTER TABLE fleet.customer ENABLE ROW LEVEL SECURITY;
ALTER TABLE fleet.trip ENABLE ROW LEVEL SECURITY;

CREATE POLICY customer_web_others_unchanged ON fleet.customer USING (true);
CREATE POLICY customer_web_others_unchanged ON fleet.trip USING (true);

-- Sign-in finds a profile by its email (hover.sign_in_email, set only in that transaction);
-- afterwards the profile is found by the session's customer id.
CREATE POLICY customer_web_own_profile ON fleet.customer AS RESTRICTIVE TO customer_web
    USING (id = CAST(NULLIF(current_setting('hover.customer_id', true), '') AS bigint)
           OR lower(email) = NULLIF(current_setting('hover.sign_in_email', true), ''));

CREATE POLICY customer_web_own_trips ON fleet.trip AS RESTRICTIVE TO customer_web
    USING (customer_id = CAST(NULLIF(current_setting('hover.customer_id', true), '') AS bigint));

-- The trips page (newest first, paged, per customer) is served by trip_customer_idx
-- (customer_id, start_time) from V0001, scanned backwards; an index in descending order
-- would be the same index twice for the sinks to maintain (benchmarks/customer_web_bench.py).

-- The customer web app's role, state tables and row-level security (see the PostgreSQL
-- variant for the design). Redshift variant: an RBAC role that the operator grants to the
-- app's login user (CREATE USER ... ; GRANT ROLE customer_web TO that user: no password in
-- the repo), and Redshift RLS policies. Policies attached to one user are ANDed (Redshift's
-- default conjunction), so the all-rows policy for PUBLIC leaves every other user as before
-- and the own-rows policy restricts customer_web. Redshift's current_setting takes
-- error_if_undefined (FALSE: NULL when unset), the opposite flag of PostgreSQL's missing_ok.
CREATE ROLE customer_web;

CREATE SCHEMA IF NOT EXISTS customer_web;

CREATE TABLE customer_web.sign_in_link (
    token_sha256     char(64)          NOT NULL ENCODE raw,
    customer_id      bigint            NOT NULL ENCODE az64,
    created_at       timestamptz       NOT NULL ENCODE az64,
    expires_at       timestamptz       NOT NULL ENCODE az64,
    used_at          timestamptz       ENCODE az64,
    PRIMARY KEY (token_sha256)
)
DISTSTYLE ALL
SORTKEY (token_sha256);

CREATE TABLE customer_web.session (
    id_sha256        char(64)          NOT NULL ENCODE raw,
    customer_id      bigint            NOT NULL ENCODE az64,
    created_at       timestamptz       NOT NULL ENCODE az64,
    expires_at       timestamptz       NOT NULL ENCODE az64,
    revoked_at       timestamptz       ENCODE az64,
    PRIMARY KEY (id_sha256)
)
DISTSTYLE ALL
SORTKEY (id_sha256);

GRANT USAGE ON SCHEMA customer_web TO ROLE customer_web;
GRANT SELECT, INSERT, UPDATE ON customer_web.sign_in_link TO ROLE customer_web;
GRANT SELECT, INSERT, UPDATE ON customer_web.session TO ROLE customer_web;
GRANT USAGE ON SCHEMA fleet TO ROLE customer_web;
GRANT SELECT ON fleet.customer TO ROLE customer_web;
GRANT SELECT ON fleet.trip TO ROLE customer_web;

CREATE RLS POLICY customer_web_others_unchanged USING (true);

CREATE RLS POLICY customer_web_own_profile WITH (id bigint, email varchar(254)) USING (id = CAST(NULLIF(current_setting('hover.customer_id', FALSE), '') AS bigint) OR lower(email) = NULLIF(current_setting('hover.sign_in_email', FALSE), ''));

CREATE RLS POLICY customer_web_own_trips WITH (customer_id bigint) USING (customer_id = CAST(NULLIF(current_setting('hover.customer_id', FALSE), '') AS bigint));

ATTACH RLS POLICY customer_web_others_unchanged ON fleet.customer TO PUBLIC;
ATTACH RLS POLICY customer_web_others_unchanged ON fleet.trip TO PUBLIC;
ATTACH RLS POLICY customer_web_own_profile ON fleet.customer TO ROLE customer_web;
ATTACH RLS POLICY customer_web_own_trips ON fleet.trip TO ROLE customer_web;

ALTER TABLE fleet.customer ROW LEVEL SECURITY ON;
ALTER TABLE fleet.trip ROW LEVEL SECURITY ON;

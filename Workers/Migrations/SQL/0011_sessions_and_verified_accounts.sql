-- A disabled tenant keeps its data; nobody of it signs in (the ingress) and it takes no commands
-- (the booking worker declines them `tenant_disabled`). The booking worker's migration adds it too.
ALTER TABLE identity.tenants ADD COLUMN IF NOT EXISTS disabled_at timestamptz;

-- Sessions as rows of their own (the ingress): an access token names its session (`sid`), so
-- revoking a session (logout, password change, a reused refresh token, DELETE
-- /v1/auth/sessions/{id}) refuses its access tokens at once, not when they expire.
CREATE TABLE identity.sessions (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    user_id uuid NOT NULL REFERENCES identity.users (id) ON DELETE CASCADE,
    -- The client as it described itself (User-Agent, cut to 200 characters) and its address.
    device text NOT NULL DEFAULT '',
    address text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    revoked_reason text
);
CREATE INDEX sessions_by_user ON identity.sessions (user_id) WHERE revoked_at IS NULL;
-- Every ingress copy keeps the recently revoked sessions in memory; it asks for new ones by time.
CREATE INDEX sessions_revoked_recently ON identity.sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Each refresh-token family so far was one login: it becomes a session.
INSERT INTO identity.sessions (id, tenant_id, user_id, created_at, last_used_at, revoked_at, revoked_reason)
SELECT family_id, min(tenant_id::text)::uuid, min(user_id::text)::uuid, min(created_at), max(created_at),
       CASE WHEN bool_and(revoked_at IS NOT NULL) THEN max(revoked_at) END,
       CASE WHEN bool_and(revoked_at IS NOT NULL) THEN 'migrated' END
FROM identity.refresh_tokens GROUP BY family_id;
ALTER TABLE identity.refresh_tokens
    ADD CONSTRAINT refresh_tokens_session FOREIGN KEY (family_id) REFERENCES identity.sessions (id) ON DELETE CASCADE;

-- Self-registered accounts sign in only once their address is verified (registration answers the
-- same whether or not the address had an account, so it tells nobody which addresses exist).
-- Accounts made before this, and accounts an admin or operator makes, are verified.
ALTER TABLE identity.users ADD COLUMN email_verified_at timestamptz;
UPDATE identity.users SET email_verified_at = created_at;

-- One-time links sent by email (verify an address, set a password). Only the SHA-256 of the
-- token is kept; a link works once and until it expires.
CREATE TABLE identity.email_tokens (
    token_hash text PRIMARY KEY,
    tenant_id uuid NOT NULL,
    user_id uuid NOT NULL REFERENCES identity.users (id) ON DELETE CASCADE,
    purpose text NOT NULL CHECK (purpose IN ('verify_email', 'set_password')),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_tokens_by_user ON identity.email_tokens (user_id);

-- Commands accepted with 202 are recorded off the request path, in batches, so that
-- GET /v1/commands/{id} can say "pending" before the booking worker decided; the booking worker
-- records the decision (with who issued it) itself. Nothing waits for this table any more.
ALTER TABLE identity.issued_commands ALTER COLUMN issued_at SET DEFAULT now();
CREATE INDEX issued_commands_recent ON identity.issued_commands (issued_at);

-- Idempotency records now belong to a signed-in principal only (auth routes, which answer
-- with tokens, are never recorded): no anonymous rows remain meaningful.
DELETE FROM identity.idempotency_keys WHERE principal = 'anonymous';

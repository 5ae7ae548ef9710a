-- Sign-ins (GoTrue calls them sessions; "auth" keeps them apart from terminal sessions). Every
-- access token names one and is refused once it is revoked, so signing out, a password change
-- or a replayed refresh token ends access at once, not when the token expires.
CREATE TABLE auth_sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    -- A sign-in made by a password-reset link may set a new password without the current one
    -- until then (unix seconds); NULL for every other sign-in.
    recovery_until BIGINT,
    revoked_at BIGINT
);
CREATE INDEX auth_sessions_user ON auth_sessions(user_id);

-- The sign-in a refresh token belongs to (NULL for tokens issued before sign-ins existed: the
-- next rotation gives them one).
ALTER TABLE refresh_tokens ADD COLUMN session_id TEXT REFERENCES auth_sessions(id) ON DELETE CASCADE;

-- Invitations are accepted through a one-time link (its SHA-256 here), not by whoever signs up
-- with the address first.
ALTER TABLE invitations ADD COLUMN token_hash TEXT;
ALTER TABLE invitations ADD COLUMN expires_at BIGINT;
ALTER TABLE invitations ADD COLUMN accepted_by TEXT REFERENCES users(id) ON DELETE SET NULL;
CREATE UNIQUE INDEX invitations_token ON invitations(token_hash);

-- Who joined a terminal session started by someone else (pair debugging, made visible).
CREATE TABLE session_joins (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    joined_at TEXT NOT NULL,
    PRIMARY KEY (session_id, user_id)
);

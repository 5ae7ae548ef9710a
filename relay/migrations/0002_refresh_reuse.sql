-- When rotation spent a refresh token (unix seconds). Presenting it again within the reuse
-- interval is a lost answer (a tab closed mid-refresh), not a theft.
ALTER TABLE refresh_tokens ADD COLUMN spent_at BIGINT;

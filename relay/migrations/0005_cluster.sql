-- Several relays on one PostgreSQL database (--nats). Which relay holds a device's connector,
-- so a browser landing on another relay finds it; a single relay writes its own name here too.
ALTER TABLE devices ADD COLUMN instance_id TEXT;

-- Each relay's lease: it renews `seen_at` (unix seconds) every few seconds. The devices of a
-- relay whose lease ran out (killed) are shown offline by the survivors.
CREATE TABLE relay_instances (
    id TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL,
    draining BIGINT NOT NULL DEFAULT 0
);

-- Secrets every relay of a cluster must share (the token-signing secret, the secrets key) when
-- the operator did not set them: the first relay to start writes them, the others read them.
CREATE TABLE cluster_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Rate limits every relay of a cluster counts together (a relay alone counts in memory): the
-- attempts of one key (an address, an account) in the current fixed window.
CREATE TABLE rate_counts (
    key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL
);

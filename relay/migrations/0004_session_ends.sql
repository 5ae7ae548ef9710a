-- How a session ended, beyond its reason: the shell's exit status (reason "exit") and who
-- ended it (reason "user_exit"), so history and the terminal can say it exactly.
ALTER TABLE sessions ADD COLUMN exit_status BIGINT;
ALTER TABLE sessions ADD COLUMN ended_by TEXT REFERENCES users(id) ON DELETE SET NULL;

-- Run by docker compose as sa in QoEArchive, after migrate: each login gets a user of its own
-- name, member of its role only. The checks look for a SQL user (type S) by name, since a role
-- of that name would also answer to USER_ID. Safe to run again: adding a member twice is a no-op.
IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = N'qoe_service' AND type = N'S')
    CREATE USER qoe_service FOR LOGIN qoe_service;
IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = N'qoe_job' AND type = N'S')
    CREATE USER qoe_job FOR LOGIN qoe_job;
ALTER ROLE qoe_reader ADD MEMBER qoe_service;
ALTER ROLE qoe_writer ADD MEMBER qoe_job;
GO

-- Run by docker compose as sa in QoEArchive, after migrate: each login gets its role only.
IF USER_ID(N'qoe_reader') IS NULL
    CREATE USER qoe_reader FOR LOGIN qoe_reader;
IF USER_ID(N'qoe_writer') IS NULL
    CREATE USER qoe_writer FOR LOGIN qoe_writer;
ALTER ROLE qoe_reader ADD MEMBER qoe_reader;
ALTER ROLE qoe_writer ADD MEMBER qoe_writer;
GO

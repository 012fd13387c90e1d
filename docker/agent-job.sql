-- Run by docker compose (db-seed) as sa, in msdb: a demo SQL Server Agent job shaped like CQD's
-- (two steps named as Microsoft's, every minute, the cube step failing now and then on purpose)
-- and the login the `sql_agent` service instance reads its history with. Safe to run again.
-- The login gets SELECT on the four msdb tables the service reads, nothing else and nothing in
-- QoEArchive: SQLAgentReaderRole alone grants the sp_help_job* procedures, not these tables.
IF SUSER_ID(N'qoe_agent_reader') IS NULL
    CREATE LOGIN qoe_agent_reader
        WITH PASSWORD = N'$(AGENT_READER_PASSWORD)', DEFAULT_DATABASE = msdb;
GO
USE msdb;
GO
IF USER_ID(N'qoe_agent_reader') IS NULL
    CREATE USER qoe_agent_reader FOR LOGIN qoe_agent_reader;
GRANT SELECT ON dbo.sysjobs TO qoe_agent_reader;
GRANT SELECT ON dbo.sysjobsteps TO qoe_agent_reader;
GRANT SELECT ON dbo.sysjobhistory TO qoe_agent_reader;
GRANT SELECT ON dbo.sysjobactivity TO qoe_agent_reader;
GO
DECLARE @job sysname = N'QoE demo: archive and cube';
IF EXISTS (SELECT 1 FROM dbo.sysjobs WHERE name = @job)
    EXEC dbo.sp_delete_job @job_name = @job, @delete_unused_schedule = 1;

EXEC dbo.sp_add_job
    @job_name = @job,
    @description = N'Demo of CQD''s archiving job for the QoE Data Service''s sql_agent source.';
EXEC dbo.sp_add_jobstep
    @job_name = @job,
    @step_id = 1,
    @step_name = N'QoE Archive Data',
    @subsystem = N'TSQL',
    @database_name = N'master',
    @command = N'DECLARE @delay char(8) = ''00:00:0'' + CAST(3 + ABS(CHECKSUM(NEWID())) % 6 AS char(1));
WAITFOR DELAY @delay;
PRINT N''Archived the demo QoE data.'';',
    @on_success_action = 3,  -- go to the next step
    @on_fail_action = 2;     -- quit, reporting failure
EXEC dbo.sp_add_jobstep
    @job_name = @job,
    @step_id = 2,
    @step_name = N'Process Cube',
    @subsystem = N'TSQL',
    @database_name = N'master',
    @command = N'DECLARE @delay char(8) = ''00:00:'' + RIGHT(''0'' + CAST(2 + ABS(CHECKSUM(NEWID())) % 15 AS varchar(2)), 2);
WAITFOR DELAY @delay;
IF ABS(CHECKSUM(NEWID())) % 4 = 0
    THROW 50000, N''Demo failure: the cube could not be processed (this step fails now and then on purpose).'', 1;
PRINT N''Processed the demo cube.'';',
    @on_success_action = 1,  -- quit, reporting success
    @on_fail_action = 2;
EXEC dbo.sp_add_jobschedule
    @job_name = @job,
    @name = N'QoE demo: every minute',
    @freq_type = 4,            -- daily
    @freq_interval = 1,
    @freq_subday_type = 4,     -- every @freq_subday_interval minutes
    @freq_subday_interval = 1;
EXEC dbo.sp_add_jobserver @job_name = @job, @server_name = N'(local)';
GO

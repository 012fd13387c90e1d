-- qoe:agent-readiness
-- What readiness needs to know in one round trip: the server clock's offset from UTC in
-- minutes (compared with integration_log.sql_agent.server_time_zone), and how many steps are
-- named @P1 (data integration) and @P2 (cube processing), of job @P3 or of every job if NULL.
-- Readable reads one row of each of the other two tables, so a login missing a SELECT grant
-- fails readiness as it would fail the Status read.
DECLARE @DataIntegrationSteps int = (
    SELECT COUNT(*)
    FROM msdb.dbo.sysjobsteps AS step
    JOIN msdb.dbo.sysjobs AS job ON job.job_id = step.job_id
    WHERE step.step_name = @P1 AND (@P3 IS NULL OR job.name = @P3));
DECLARE @CubeProcessingSteps int = (
    SELECT COUNT(*)
    FROM msdb.dbo.sysjobsteps AS step
    JOIN msdb.dbo.sysjobs AS job ON job.job_id = step.job_id
    WHERE step.step_name = @P2 AND (@P3 IS NULL OR job.name = @P3));
SELECT DATEDIFF(minute, SYSUTCDATETIME(), SYSDATETIME()) AS OffsetMinutes,
    @DataIntegrationSteps AS DataIntegrationSteps,
    @CubeProcessingSteps AS CubeProcessingSteps,
    (SELECT COUNT(*) FROM (SELECT TOP (1) history.instance_id
                           FROM msdb.dbo.sysjobhistory AS history) AS one)
    + (SELECT COUNT(*) FROM (SELECT TOP (1) activity.session_id
                             FROM msdb.dbo.sysjobactivity AS activity) AS one) AS Readable;
-- Only while a configured step is missing (empty otherwise): the steps of every job, so the
-- fix can name the nearest ones, also when the job name is the mistake. Bounded; sysjobsteps
-- holds a few rows per job.
SELECT TOP (500) job.name AS JobName, step.step_name AS StepName
FROM msdb.dbo.sysjobsteps AS step
JOIN msdb.dbo.sysjobs AS job ON job.job_id = step.job_id
WHERE @DataIntegrationSteps = 0 OR @CubeProcessingSteps = 0
ORDER BY job.name, step.step_id;

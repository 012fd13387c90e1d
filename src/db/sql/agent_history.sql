-- qoe:agent-history
-- SQL Server Agent history of CQD's two job steps, in one round trip, after the server clock's
-- offset from UTC in minutes: history times are local times of the server, so the service
-- refuses them while that offset differs from integration_log.sql_agent.server_time_zone's
-- (a DST change on one side only). Two result sets: OffsetMinutes, then the history rows.
-- @P1: rows per step;
-- @P2: the data integration step's name; @P3: the cube processing step's name; @P4: the job's
-- name, or NULL for every job with a step of that name; @P5: the outcome wanted (NULL: every
-- row; 1: successes; 0: failures, run_status 0 or 3 (cancelled)); @P6: how many of each step's
-- newest rows to look through for them (at least @P1: the bound on what one read may cost when
-- the outcome is rare). Reads four msdb tables only.
-- Columns: Job (0 data integration, 1 cube processing); Running (0: a history row, or NULL
-- history when the step never ran; 1: the step the current Agent session is running now, with
-- the newest history row of the step it follows, and the job's start); then sysjobhistory's own
-- columns, run_date/run_time in the server's local time, run_duration as hhmmss.
-- Expected plan: the two names seek nothing (sysjobsteps is one row per step of every job, a
-- few pages), then per matching step a Top (@P1) over msdb's index nc1 (job_id) read backward
-- in instance_id order, with a key lookup per row to test step_id: it stops after @P1 rows of
-- the step (@P6 when @P5 filters), about that many x (steps in the job + 1) rows, however
-- long the history is. The running branch reads the newest sysjobactivity session's row of the
-- job and one more Top (1).
SELECT DATEDIFF(minute, SYSUTCDATETIME(), SYSDATETIME()) AS OffsetMinutes;
WITH wanted (Job, StepName) AS (
    SELECT 0, @P2
    UNION ALL
    SELECT 1, @P3
),
steps AS (
    SELECT wanted.Job, step.job_id, step.step_id, job.start_step_id
    FROM wanted
    JOIN msdb.dbo.sysjobsteps AS step ON step.step_name = wanted.StepName
    JOIN msdb.dbo.sysjobs AS job ON job.job_id = step.job_id
    WHERE @P4 IS NULL OR job.name = @P4
)
SELECT steps.Job, CAST(0 AS int) AS Running,
    history.run_status AS RunStatus, history.run_date AS RunDate, history.run_time AS RunTime,
    history.run_duration AS RunDuration, history.message AS Message,
    CAST(NULL AS datetime) AS JobStarted
FROM steps
OUTER APPLY (
    SELECT TOP (@P1) recent.run_status, recent.run_date, recent.run_time, recent.run_duration,
        recent.message
    FROM (
        SELECT TOP (@P6) entry.instance_id, entry.run_status, entry.run_date, entry.run_time,
            entry.run_duration, entry.message
        FROM msdb.dbo.sysjobhistory AS entry
        WHERE entry.job_id = steps.job_id AND entry.step_id = steps.step_id
        ORDER BY entry.instance_id DESC
    ) AS recent
    WHERE @P5 IS NULL OR recent.run_status = @P5 OR (@P5 = 0 AND recent.run_status = 3)
    ORDER BY recent.instance_id DESC
) AS history
UNION ALL
SELECT steps.Job, CAST(1 AS int),
    previous.run_status, previous.run_date, previous.run_time, previous.run_duration,
    CAST(NULL AS nvarchar(4000)), activity.start_execution_date
FROM steps
JOIN msdb.dbo.sysjobactivity AS activity
    ON activity.job_id = steps.job_id
    AND activity.session_id = (SELECT MAX(newest.session_id) FROM msdb.dbo.sysjobactivity AS newest)
    AND activity.start_execution_date IS NOT NULL
    AND activity.stop_execution_date IS NULL
LEFT JOIN msdb.dbo.sysjobsteps AS last_step
    ON last_step.job_id = steps.job_id AND last_step.step_id = activity.last_executed_step_id
OUTER APPLY (
    SELECT TOP (1) entry.run_status, entry.run_date, entry.run_time, entry.run_duration
    FROM msdb.dbo.sysjobhistory AS entry
    WHERE entry.job_id = steps.job_id AND entry.step_id = activity.last_executed_step_id
    ORDER BY entry.instance_id DESC
) AS previous
WHERE steps.step_id = CASE
    WHEN activity.last_executed_step_id IS NULL THEN steps.start_step_id
    WHEN last_step.on_success_action = 4 THEN last_step.on_success_step_id
    ELSE activity.last_executed_step_id + 1
END;

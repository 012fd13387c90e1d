-- Run by docker compose as sa after roles.sql: the rows behind the CQD documentation's sample,
-- written as the SQL Server Agent job steps write them: as the job's user qoe_job, through the
-- procedure.
-- Only into an empty log, so that `docker compose up` can run again.
SET NOCOUNT ON;
IF NOT EXISTS (SELECT 1 FROM dbo.IntegrationLog)
BEGIN
    EXECUTE AS USER = N'qoe_job';
    EXEC dbo.WriteIntegrationLog N'DataIntegrationSucceeded', N'demo: older than the five shown', '2015-01-17T14:30:00';
    EXEC dbo.WriteIntegrationLog N'DataIntegrationSucceeded', NULL, '2015-01-17T14:45:13';
    EXEC dbo.WriteIntegrationLog N'DataIntegrationSucceeded', NULL, '2015-01-17T15:00:17';
    EXEC dbo.WriteIntegrationLog N'DataIntegrationSucceeded', NULL, '2015-01-17T15:15:17';
    EXEC dbo.WriteIntegrationLog N'DataIntegrationSucceeded', NULL, '2015-01-18T10:28:29';
    EXEC dbo.WriteIntegrationLog N'DataIntegrationSucceeded', NULL, '2015-01-18T10:30:13';
    EXEC dbo.WriteIntegrationLog N'CubeProcessingSucceeded', NULL, '2015-01-17T14:17:01';
    EXEC dbo.WriteIntegrationLog N'CubeProcessingSucceeded', NULL, '2015-01-17T14:31:40';
    EXEC dbo.WriteIntegrationLog N'CubeProcessingSucceeded', NULL, '2015-01-17T14:47:19';
    EXEC dbo.WriteIntegrationLog N'CubeProcessingSucceeded', NULL, '2015-01-17T15:01:41';
    EXEC dbo.WriteIntegrationLog N'CubeProcessingSucceeded', NULL, '2015-01-17T15:16:40';
    EXEC dbo.WriteIntegrationLog N'CubeProcessingFailed', N'demo: cube not reachable', '2015-01-15T19:45:50';
    EXEC dbo.WriteIntegrationLog N'CubeProcessingFailed', N'demo: cube not reachable', '2015-01-15T20:01:56';
    EXEC dbo.WriteIntegrationLog N'CubeProcessingFailed', N'demo: cube not reachable', '2015-01-17T10:02:20';
    EXEC dbo.WriteIntegrationLog N'CubeProcessingFailed', N'demo: cube not reachable', '2015-01-18T10:29:28';
    EXEC dbo.WriteIntegrationLog N'CubeProcessingFailed', N'demo: cube not reachable', '2015-01-18T10:30:58';
    EXEC dbo.WriteIntegrationLog N'CubeProcessingStarted', NULL, '2015-01-18T10:30:16';
    REVERT;
END;
GO

-- What the SQL Server Agent job steps call to record an event, e.g.
--   EXEC dbo.WriteIntegrationLog @LogCategory = N'DataIntegrationSucceeded';
-- The table's CHECK constraint is the one list of categories; an unknown one is refused
-- here with a message that names it, and nothing is written.
CREATE PROCEDURE dbo.WriteIntegrationLog
    @LogCategory nvarchar(64),
    @LogDescription nvarchar(max) = NULL,
    @LogTime datetime2(3) = NULL
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;

    BEGIN TRY
        INSERT INTO dbo.IntegrationLog (LogTime, LogCategory, LogDescription)
        VALUES (COALESCE(@LogTime, SYSUTCDATETIME()), @LogCategory, @LogDescription);
    END TRY
    BEGIN CATCH
        IF ERROR_NUMBER() = 547 OR @LogCategory IS NULL
        BEGIN
            DECLARE @message nvarchar(2048) = CONCAT(
                N'Unknown integration log category ''', COALESCE(@LogCategory, N'NULL'),
                N'''. Expected one of: DataIntegrationStarted, DataIntegrationSucceeded, ',
                N'DataIntegrationFailed, CubeProcessingStarted, CubeProcessingSucceeded, ',
                N'CubeProcessingFailed.');
            THROW 50001, @message, 1;
        END;
        THROW;
    END CATCH;
END;

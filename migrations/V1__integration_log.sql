-- The integration log: one row per event of the archiving and cube-processing jobs.
-- LogTime is UTC; the service renders it in the configured time zone.
CREATE TABLE dbo.IntegrationLog (
    Id bigint IDENTITY(1, 1) NOT NULL,
    LogTime datetime2(3) NOT NULL
        CONSTRAINT DF_IntegrationLog_LogTime DEFAULT (SYSUTCDATETIME()),
    LogCategory nvarchar(64) NOT NULL,
    LogDescription nvarchar(max) NULL,
    CONSTRAINT PK_IntegrationLog PRIMARY KEY CLUSTERED (Id),
    CONSTRAINT CK_IntegrationLog_LogCategory CHECK (LogCategory IN (
        N'DataIntegrationStarted', N'DataIntegrationSucceeded', N'DataIntegrationFailed',
        N'CubeProcessingStarted', N'CubeProcessingSucceeded', N'CubeProcessingFailed'
    ))
);

-- "Newest N of one category" is an ordered seek that stops after N rows.
CREATE INDEX IX_IntegrationLog_Category_Time
    ON dbo.IntegrationLog (LogCategory, LogTime DESC, Id DESC);

-- "Newest N of all categories" for the integration log listing.
CREATE INDEX IX_IntegrationLog_Time
    ON dbo.IntegrationLog (LogTime DESC, Id DESC)
    INCLUDE (LogCategory);

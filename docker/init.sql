-- Run by docker compose as sa: the database and the two logins. Safe to run again.
-- The logins are named apart from the database roles they join (qoe_reader, qoe_writer): each
-- login gets a database user of the same name, and users and roles share one namespace.
IF DB_ID(N'QoEArchive') IS NULL
    CREATE DATABASE QoEArchive;
GO
IF NOT EXISTS (SELECT 1 FROM sys.server_principals WHERE name = N'qoe_service' AND type = N'S')
    CREATE LOGIN qoe_service WITH PASSWORD = N'$(SERVICE_PASSWORD)', DEFAULT_DATABASE = QoEArchive;
IF NOT EXISTS (SELECT 1 FROM sys.server_principals WHERE name = N'qoe_job' AND type = N'S')
    CREATE LOGIN qoe_job WITH PASSWORD = N'$(JOB_PASSWORD)', DEFAULT_DATABASE = QoEArchive;
GO

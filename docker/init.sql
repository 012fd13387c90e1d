-- Run by docker compose as sa: the database and the two logins. Safe to run again.
IF DB_ID(N'QoEArchive') IS NULL
    CREATE DATABASE QoEArchive;
GO
IF SUSER_ID(N'qoe_reader') IS NULL
    CREATE LOGIN qoe_reader WITH PASSWORD = N'$(READER_PASSWORD)', DEFAULT_DATABASE = QoEArchive;
IF SUSER_ID(N'qoe_writer') IS NULL
    CREATE LOGIN qoe_writer WITH PASSWORD = N'$(WRITER_PASSWORD)', DEFAULT_DATABASE = QoEArchive;
GO

-- Least privilege. Add logins to these roles; see the README.
-- qoe_reader: what the service needs, reading the log and nothing else.
CREATE ROLE qoe_reader;
GRANT SELECT ON OBJECT::dbo.IntegrationLog TO qoe_reader;

-- qoe_writer: what the SQL Server Agent job steps need, calling the procedure only.
CREATE ROLE qoe_writer;
GRANT EXECUTE ON OBJECT::dbo.WriteIntegrationLog TO qoe_writer;

-- qoe:integration-log
-- The newest @P1 entries, of category @P2 or (NULL) of every category, in one round trip.
-- Two statements rather than one `WHERE (@P2 IS NULL OR LogCategory = @P2)`: a cached plan for
-- that predicate must serve both values, so SQL Server cannot seek on the category and scans.
-- Each branch gets its own cached plan and both are ordered seeks that stop after @P1 rows:
-- IX_IntegrationLog_Time when unfiltered, IX_IntegrationLog_Category_Time when filtered.
-- LogDescription is in neither index: at most @P1 key lookups, bounded like the rest.
-- (OPTION (RECOMPILE) would also give both seeks, at the price of a compile on every call.)
IF @P2 IS NULL
    SELECT TOP (@P1) entry.LogCategory, entry.LogTime, entry.LogDescription
    FROM dbo.IntegrationLog AS entry
    ORDER BY entry.LogTime DESC, entry.Id DESC;
ELSE
    SELECT TOP (@P1) entry.LogCategory, entry.LogTime, entry.LogDescription
    FROM dbo.IntegrationLog AS entry
    WHERE entry.LogCategory = @P2
    ORDER BY entry.LogTime DESC, entry.Id DESC;
